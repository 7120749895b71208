-- Live rooms, their shopping bag, views and sales counters, and live's replica of shop's catalogue.
-- Built for the first loop; the live-rooms and flash-sale issues grow these tables rather than
-- replace them: room lifecycle moves `rooms.status` with conditional updates, sessions hang off
-- `rooms`, and a flash sale's quota references a `bag_items` row by (room_id, product_id).

CREATE TABLE rooms (
    room_id            uuid PRIMARY KEY,
    host_id            text NOT NULL,
    merchant_id        uuid NOT NULL,
    title              text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    cover_url          text CHECK (cover_url ~ '^https?://'),
    status             text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'live', 'ended')),
    scheduled_start_at timestamptz,
    created_at         timestamptz NOT NULL
);
CREATE INDEX rooms_host ON rooms (host_id);
CREATE INDEX rooms_merchant ON rooms (merchant_id);

-- Replica of shop's products, fed by shop.product.published/updated; the newest `version` wins,
-- so a late older event never overwrites a newer one.
CREATE TABLE products (
    product_id  uuid PRIMARY KEY,
    merchant_id uuid NOT NULL,
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    version     bigint NOT NULL,
    skus        jsonb NOT NULL DEFAULT '[]'::jsonb,
    updated_at  timestamptz NOT NULL
);

-- Available stock per SKU, fed by shop.sku.stock_changed (a product event's snapshot only seeds a
-- SKU live has no level for). `updated_at` is the occurred_at of the newest event applied: an older
-- one arriving late is ignored. No foreign key to products: a stock event may arrive before its product.
CREATE TABLE sku_stock (
    sku_id          uuid PRIMARY KEY,
    product_id      uuid NOT NULL,
    stock_available int NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX sku_stock_product ON sku_stock (product_id);

-- Products linked to a room. Positions are handed out under the room's row lock; UNIQUE backs that up.
CREATE TABLE bag_items (
    room_id    uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    product_id uuid NOT NULL REFERENCES products (product_id),
    position   int NOT NULL CHECK (position > 0),
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (room_id, product_id),
    UNIQUE (room_id, position)
);

-- One row per join: the raw material of the room's funnel.
CREATE TABLE room_views (
    view_id   bigserial PRIMARY KEY,
    room_id   uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    viewer_id text NOT NULL,
    joined_at timestamptz NOT NULL
);
CREATE INDEX room_views_room ON room_views (room_id, joined_at);

-- First join per viewer: the primary key decides "unique viewer", even for two joins at the same instant.
CREATE TABLE room_viewers (
    room_id         uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    viewer_id       text NOT NULL,
    first_joined_at timestamptz NOT NULL,
    PRIMARY KEY (room_id, viewer_id)
);

-- Counters read by hosts and merchants, kept in the same transaction as the join or the paid order
-- (whose inbox row makes a redelivered event harmless). `currency` is fixed by the first paid order.
CREATE TABLE room_stats (
    room_id           uuid PRIMARY KEY REFERENCES rooms (room_id) ON DELETE CASCADE,
    views             bigint NOT NULL DEFAULT 0 CHECK (views >= 0),
    unique_viewers    bigint NOT NULL DEFAULT 0 CHECK (unique_viewers BETWEEN 0 AND views),
    paid_orders       bigint NOT NULL DEFAULT 0 CHECK (paid_orders >= 0),
    paid_amount_minor bigint NOT NULL DEFAULT 0 CHECK (paid_amount_minor >= 0),
    currency          text CHECK (currency ~ '^[A-Z]{3}$'),
    updated_at        timestamptz NOT NULL
);
