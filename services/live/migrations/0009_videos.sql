-- Short videos (services/live/videos; docs/ARCHITECTURE.md, "Short videos"): a host's or merchant's clip with
-- product or deal anchors of that merchant, optionally the replay of one of its rooms. Deleting is a soft delete
-- (`deleted_at`): order lines, cart lines and funnel facts keep naming the video, so its row stays.

CREATE TABLE videos (
    video_id     uuid PRIMARY KEY,
    host_id      text NOT NULL CHECK (char_length(host_id) BETWEEN 1 AND 200),
    merchant_id  uuid NOT NULL,
    title        text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    media_url    text NOT NULL CHECK (media_url ~ '^https?://'),
    cover_url    text CHECK (cover_url ~ '^https?://'),
    duration_s   double precision NOT NULL CHECK (duration_s > 0),
    room_id      uuid REFERENCES rooms (room_id),
    published_at timestamptz NOT NULL,
    deleted_at   timestamptz
);
-- The listings: newest first with a keyset cursor (published_at, video_id), per host, per merchant, and all.
CREATE INDEX videos_host ON videos (host_id, published_at DESC, video_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX videos_merchant ON videos (merchant_id, published_at DESC, video_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX videos_newest ON videos (published_at DESC, video_id DESC) WHERE deleted_at IS NULL;
CREATE INDEX videos_room ON videos (room_id) WHERE room_id IS NOT NULL;

-- An anchor is a product or a deal, in one sequence of positions (like a room's bag); the two UNIQUEs keep an
-- item from being anchored twice in one video (NULLs never collide).
CREATE TABLE video_anchors (
    video_id   uuid NOT NULL REFERENCES videos (video_id) ON DELETE CASCADE,
    position   int NOT NULL CHECK (position > 0),
    product_id uuid REFERENCES products (product_id),
    deal_id    uuid REFERENCES deals (deal_id),
    PRIMARY KEY (video_id, position),
    CONSTRAINT video_anchors_product_or_deal CHECK ((product_id IS NULL) <> (deal_id IS NULL)),
    CONSTRAINT video_anchors_video_product UNIQUE (video_id, product_id),
    CONSTRAINT video_anchors_video_deal UNIQUE (video_id, deal_id)
);
-- "Videos anchoring this product" (GET /videos?product_id=).
CREATE INDEX video_anchors_product ON video_anchors (product_id, video_id) WHERE product_id IS NOT NULL;
