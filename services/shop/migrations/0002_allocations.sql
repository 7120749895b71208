-- Flash-sale stock allocations: units a live sale took out of available stock in one go.
-- They stay counted in skus.stock_reserved until a paid order commits them or live returns them.

CREATE TABLE allocations (
    -- Live's sale id (minted elsewhere, so text like the other foreign ids here).
    allocation_id text PRIMARY KEY,
    sku_id        uuid NOT NULL REFERENCES skus,
    merchant_id   uuid NOT NULL REFERENCES merchants,
    quantity      int NOT NULL CHECK (quantity > 0),
    committed     int NOT NULL DEFAULT 0 CHECK (committed >= 0),
    released      int NOT NULL DEFAULT 0 CHECK (released >= 0),
    created_at    timestamptz NOT NULL,
    -- Every unit leaves the allocation at most once: sold (committed) or given back (released).
    CONSTRAINT allocations_settled_within_quantity CHECK (committed + released <= quantity)
);
CREATE INDEX allocations_sku ON allocations (sku_id);

-- Which paid order took units from which allocation: a paid order is committed from an allocation
-- once even if the same fact arrives again under a new event id (the inbox alone dedupes event ids).
CREATE TABLE allocation_commits (
    allocation_id text NOT NULL,
    order_id      text NOT NULL,
    sku_id        uuid NOT NULL,
    quantity      int NOT NULL CHECK (quantity > 0),
    -- `allocation`: taken from the allocation; `available`: the allocation could not cover it, taken
    -- from available stock; `shortfall`: neither could, recorded in stock_shortfalls.
    source        text NOT NULL CHECK (source IN ('allocation', 'available', 'shortfall')),
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (allocation_id, order_id, sku_id)
);
