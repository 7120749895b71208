-- Room feed: a per-room sequence bumped in every transaction that tells the room's viewers something,
-- so every live instance can deliver a room's feed events in commit order (see feed.py).
ALTER TABLE rooms ADD COLUMN feed_seq bigint NOT NULL DEFAULT 0;

-- Sessions: each start of a room opens one, its end closes it; a room is live exactly while one is open.
CREATE TABLE room_sessions (
    session_id uuid PRIMARY KEY,
    room_id    uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    number     int NOT NULL CHECK (number > 0),
    started_at timestamptz NOT NULL,
    ended_at   timestamptz CHECK (ended_at >= started_at),
    UNIQUE (room_id, number)
);
CREATE UNIQUE INDEX room_sessions_one_open ON room_sessions (room_id) WHERE ended_at IS NULL;

ALTER TABLE rooms
    ADD COLUMN current_session_id uuid REFERENCES room_sessions (session_id),
    ADD CONSTRAINT rooms_live_has_session CHECK ((status = 'live') = (current_session_id IS NOT NULL));

-- Reordering rewrites every position in one UPDATE: a deferrable UNIQUE is checked at the end of the
-- statement, so swapping two positions does not trip over itself half-way.
ALTER TABLE bag_items
    DROP CONSTRAINT bag_items_room_id_position_key,
    ADD CONSTRAINT bag_items_room_position UNIQUE (room_id, position) DEFERRABLE INITIALLY IMMEDIATE;

-- The pinned product is one of the room's bag items: the database refuses a pin outside the bag and a
-- removal of the pinned product that forgot to unpin it.
ALTER TABLE rooms
    ADD COLUMN pinned_product_id uuid,
    ADD CONSTRAINT rooms_pin_in_bag FOREIGN KEY (room_id, pinned_product_id) REFERENCES bag_items (room_id, product_id);

-- Views: one per join, in the session it happened in. A view is present while open (`left_at` null) and
-- its last heartbeat is within the presence timeout; a stale one counts as left at its last heartbeat
-- (the sweeper writes that down). Joins before sessions existed have no session and count as closed.
ALTER TABLE room_views
    ADD COLUMN session_id uuid REFERENCES room_sessions (session_id) ON DELETE CASCADE,
    ADD COLUMN last_seen_at timestamptz,
    ADD COLUMN left_at timestamptz;
UPDATE room_views SET last_seen_at = joined_at, left_at = joined_at;
ALTER TABLE room_views
    ALTER COLUMN last_seen_at SET NOT NULL,
    ADD CONSTRAINT room_views_seen_after_join CHECK (last_seen_at >= joined_at),
    ADD CONSTRAINT room_views_left_after_join CHECK (left_at >= joined_at),
    ADD CONSTRAINT room_views_open_in_session CHECK (left_at IS NOT NULL OR session_id IS NOT NULL);
-- Joining again while one's view is open finds that view; two racing joins cannot both open one.
CREATE UNIQUE INDEX room_views_one_open ON room_views (session_id, viewer_id) WHERE left_at IS NULL;
CREATE INDEX room_views_session ON room_views (session_id, viewer_id);

-- Views and unique viewers are counted from room_views when read (stats are read rarely, joins come in
-- bursts when a stream starts): no counter row that every join of a room would queue on.
ALTER TABLE room_stats DROP COLUMN views, DROP COLUMN unique_viewers;
DROP TABLE room_viewers;
