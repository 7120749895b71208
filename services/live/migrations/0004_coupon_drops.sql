-- Coupon drops of live rooms and the coupons buyers claimed from them. Orders keeps its own copy of each
-- claimed coupon (from live.coupon.claimed.v1) and decides whether it is still usable; live keeps the
-- drop's count and who claimed what, so the limits hold however many instances take claims.

CREATE TABLE coupon_drops (
    drop_id          uuid PRIMARY KEY,
    room_id          uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    -- The room's merchant when the drop was made: a coupon is only good for that merchant's orders.
    merchant_id      uuid NOT NULL,
    created_by       text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('amount_off', 'percent_off')),
    amount_off_minor bigint NOT NULL DEFAULT 0,
    percent_off      int NOT NULL DEFAULT 0,
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    min_spend_minor  bigint NOT NULL DEFAULT 0 CHECK (min_spend_minor >= 0),
    per_buyer_limit  int NOT NULL CHECK (per_buyer_limit >= 1),
    total            int NOT NULL CHECK (total BETWEEN 1 AND 1000000),
    -- Raised only by a conditional update under the row lock; the CHECK backs the "never more than total" up.
    claimed          int NOT NULL DEFAULT 0 CHECK (claimed BETWEEN 0 AND total),
    valid_until      timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'ended')),
    created_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    CHECK (per_buyer_limit <= total),
    CHECK ((kind = 'amount_off' AND amount_off_minor > 0 AND percent_off = 0)
        OR (kind = 'percent_off' AND percent_off BETWEEN 1 AND 100 AND amount_off_minor = 0)),
    CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);
CREATE INDEX coupon_drops_room ON coupon_drops (room_id, created_at);

-- One row per claimed coupon. `slot` is the buyer's n-th coupon of the drop, handed out under the drop's row
-- lock; UNIQUE (drop_id, buyer_id, slot) means even a bug in that lock could not give one buyer two coupons
-- for one slot, and the insert refuses a slot above the drop's per_buyer_limit.
CREATE TABLE coupons (
    coupon_id  uuid PRIMARY KEY,
    drop_id    uuid NOT NULL REFERENCES coupon_drops (drop_id) ON DELETE CASCADE,
    buyer_id   text NOT NULL,
    slot       int NOT NULL CHECK (slot >= 1),
    claimed_at timestamptz NOT NULL,
    UNIQUE (drop_id, buyer_id, slot)
);
CREATE INDEX coupons_buyer ON coupons (buyer_id, claimed_at DESC, coupon_id DESC);
