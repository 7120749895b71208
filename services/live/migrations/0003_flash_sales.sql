-- Flash sales: N units of one SKU of the room's bag, moved out of shop's available stock into the sale
-- (shop's allocation id = sale_id), sold at a fixed price to buyers admitted one batch at a time.
-- Per sale: units in admissions that are not expired + remaining + returned = quantity.

CREATE TABLE flash_sales (
    sale_id         uuid PRIMARY KEY,
    room_id         uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    merchant_id     uuid NOT NULL,
    product_id      uuid NOT NULL,
    sku_id          uuid NOT NULL,
    -- What the buyer's order says; shop's answer to the allocation, fixed for the sale's life.
    title           text NOT NULL,
    sku_name        text NOT NULL,
    price_minor     bigint NOT NULL CHECK (price_minor >= 1),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    quantity        int NOT NULL CHECK (quantity >= 1),
    -- Units still for sale; an expired admission puts its units back while the sale runs.
    remaining       int NOT NULL CHECK (remaining BETWEEN 0 AND quantity),
    -- Units given back to shop: what was unsold at the end, and admissions that expired after it.
    returned        int NOT NULL DEFAULT 0 CHECK (returned BETWEEN 0 AND quantity),
    per_buyer_limit int NOT NULL CHECK (per_buyer_limit >= 1),
    pay_within_s    int NOT NULL CHECK (pay_within_s >= 1),
    -- `scheduled` until starts_at, `running` until ends_at (or the host ends it, or the room ends).
    -- Purchases go by the clock (starts_at <= now < ends_at, not ended), so a late job never decides.
    status          text NOT NULL CHECK (status IN ('scheduled', 'running', 'ended')),
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL CHECK (ends_at > starts_at),
    ended_at        timestamptz,
    -- `time`, `host`, `room_ended`, `cancelled` (ended before it started).
    end_reason      text,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL,
    CHECK (remaining + returned <= quantity),
    CHECK ((status = 'ended') = (ended_at IS NOT NULL)),
    CHECK (status <> 'ended' OR remaining = 0)
);
CREATE INDEX flash_sales_room ON flash_sales (room_id, created_at);

-- One row per admitted purchase; the UNIQUE key makes a retried Idempotency-Key name the same admission.
-- Refused attempts are never stored.
CREATE TABLE flash_sale_admissions (
    admission_id    uuid PRIMARY KEY,
    sale_id         uuid NOT NULL REFERENCES flash_sales (sale_id) ON DELETE CASCADE,
    buyer_id        text NOT NULL,
    idempotency_key text NOT NULL,
    -- Orders creates the order with this id (deterministic, so the buyer can poll it at once).
    order_id        uuid NOT NULL UNIQUE,
    -- What the buyer asked for (a retry asking something else is refused) and what was granted.
    asked           int NOT NULL CHECK (asked >= 1),
    quantity        int NOT NULL CHECK (quantity BETWEEN 1 AND asked),
    -- `admitted` until orders says paid, or cancelled (unpaid in time): then `expired`, units returned.
    status          text NOT NULL DEFAULT 'admitted' CHECK (status IN ('admitted', 'paid', 'expired')),
    admitted_at     timestamptz NOT NULL,
    pay_by          timestamptz NOT NULL,
    settled_at      timestamptz,
    UNIQUE (sale_id, buyer_id, idempotency_key)
);
CREATE INDEX flash_sale_admissions_sale ON flash_sale_admissions (sale_id, status);

-- Units each buyer holds in a sale (admissions not expired), read and written under the sale's row
-- lock: that lock serialises every batch of every instance, so the per-buyer limit holds globally.
CREATE TABLE flash_sale_buyers (
    sale_id  uuid NOT NULL REFERENCES flash_sales (sale_id) ON DELETE CASCADE,
    buyer_id text NOT NULL,
    units    int NOT NULL CHECK (units >= 0),
    -- The sale's limit, copied so the database itself refuses a row over it (a backstop to the grant).
    per_buyer_limit int NOT NULL,
    CHECK (units <= per_buyer_limit),
    PRIMARY KEY (sale_id, buyer_id)
);
