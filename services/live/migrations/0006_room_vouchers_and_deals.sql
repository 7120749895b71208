-- Local life in live rooms: vouchers sold, redeemed, refunded and expired counted for the room that sold them
-- (consumer live__room_vouchers), and local_life's deals in a room's bag and pin beside products (consumer
-- live__deals keeps the replica).

-- Counted once per fact, not per event: a republished outbox row arrives under a new event id, which the inbox
-- cannot recognise, so each voucher's sale, refund and expiry has its row here (the first insert counts) ...
ALTER TABLE room_stats
    ADD COLUMN vouchers_sold     bigint NOT NULL DEFAULT 0 CHECK (vouchers_sold >= 0),
    ADD COLUMN vouchers_redeemed bigint NOT NULL DEFAULT 0 CHECK (vouchers_redeemed >= 0),
    ADD COLUMN vouchers_refunded bigint NOT NULL DEFAULT 0 CHECK (vouchers_refunded >= 0),
    ADD COLUMN vouchers_expired  bigint NOT NULL DEFAULT 0 CHECK (vouchers_expired >= 0);

CREATE TABLE room_voucher_facts (
    voucher_id text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('sold', 'refunded', 'expired')),
    room_id    uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    PRIMARY KEY (voucher_id, kind)
);

-- ... and each redemption its row: the redemption that inserts it counts; an undo counts down only a row that is
-- not yet undone (so only a counted redemption, once), and an undo arriving before its redemption inserts the row
-- undone, so the redemption, when it comes, counts nothing.
CREATE TABLE room_redemptions (
    redemption_id text PRIMARY KEY,
    room_id       uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    undone        boolean NOT NULL
);

-- Replica of local_life's deals (local.deal.published.v1 / ended.v1): the newest event wins (`updated_at` is its
-- occurred_at) and `ended` is final, so a late or republished DealPublished never puts an ended deal back on sale.
CREATE TABLE deals (
    deal_id               uuid PRIMARY KEY,
    merchant_id           uuid NOT NULL,
    title                 text NOT NULL,
    price_minor           bigint NOT NULL,
    original_value_minor  bigint NOT NULL,
    currency              text NOT NULL,
    vouchers_per_purchase int NOT NULL,
    team_size             int,
    valid_until           timestamptz,
    status                text NOT NULL CHECK (status IN ('published', 'ended')),
    updated_at            timestamptz NOT NULL
);

-- A bag entry is a product or a deal, in one sequence of positions (so the host orders them together). The two
-- UNIQUEs name an entry (NULLs never collide) and are what the pins point at; the primary key on (room_id,
-- product_id) could not stay, its column now being NULL for a deal.
ALTER TABLE rooms DROP CONSTRAINT rooms_pin_in_bag;
ALTER TABLE bag_items DROP CONSTRAINT bag_items_pkey;
ALTER TABLE bag_items
    ALTER COLUMN product_id DROP NOT NULL,
    ADD COLUMN deal_id uuid REFERENCES deals (deal_id),
    ADD CONSTRAINT bag_items_product_or_deal CHECK ((product_id IS NULL) <> (deal_id IS NULL)),
    ADD CONSTRAINT bag_items_room_product UNIQUE (room_id, product_id),
    ADD CONSTRAINT bag_items_room_deal UNIQUE (room_id, deal_id);

-- At most one thing pinned, and it is in the bag (removing it must unpin it first).
ALTER TABLE rooms
    ADD CONSTRAINT rooms_pin_in_bag FOREIGN KEY (room_id, pinned_product_id) REFERENCES bag_items (room_id, product_id),
    ADD COLUMN pinned_deal_id uuid,
    ADD CONSTRAINT rooms_pinned_deal_in_bag FOREIGN KEY (room_id, pinned_deal_id) REFERENCES bag_items (room_id, deal_id),
    ADD CONSTRAINT rooms_one_pin CHECK (pinned_product_id IS NULL OR pinned_deal_id IS NULL);
