-- Room feed: a per-room sequence bumped in every transaction that tells the room's viewers something,
-- so every live instance can deliver a room's feed events in commit order (see feed.py).
ALTER TABLE rooms ADD COLUMN feed_seq bigint NOT NULL DEFAULT 0;
