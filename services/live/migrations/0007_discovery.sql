-- Discovery (issue 11): buyers follow hosts; listings of rooms live now and scheduled.
-- A host is the `sub` of host tokens, as `rooms.host_id` records it; live knows a host by their rooms.

CREATE TABLE host_follows (
    host_id     text NOT NULL CHECK (char_length(host_id) BETWEEN 1 AND 200),
    buyer_id    text NOT NULL,
    followed_at timestamptz NOT NULL,
    PRIMARY KEY (host_id, buyer_id),
    CHECK (host_id <> buyer_id)
);
CREATE INDEX host_follows_buyer ON host_follows (buyer_id, followed_at DESC, host_id DESC);

-- The fan count, moved in the same transaction as the follow row it counts (only when a row was really inserted
-- or deleted), so it is exact without counting on every read; the CHECK keeps it from going below 0.
CREATE TABLE host_fans (
    host_id text PRIMARY KEY,
    fans    bigint NOT NULL DEFAULT 0 CHECK (fans >= 0)
);

CREATE INDEX rooms_live ON rooms (room_id) WHERE status = 'live';
CREATE INDEX rooms_scheduled ON rooms (scheduled_start_at, room_id)
    WHERE status = 'scheduled' AND scheduled_start_at IS NOT NULL;
