-- After-sales stock (issue 9): units a cancellation after payment or a return puts back on hand, and the
-- replacement units an exchange takes. Each moves stock once per fact, keyed here, whatever event id it arrives
-- under (the inbox alone dedupes event ids), and each leaves a line in the SKU's history.

-- Why a SKU's stock changed besides a merchant's edit, and what caused it (an order, a case, an exchange).
ALTER TABLE sku_changes
    ADD COLUMN reason text NOT NULL DEFAULT 'edit'
        CHECK (reason IN ('edit', 'cancelled_after_payment', 'returned', 'exchange_taken', 'exchange_released')),
    ADD COLUMN ref text;

-- Units put back on hand: one row per line of a cancellation (ref: the grant id, which orders derives from the
-- order) or of a return (ref: the case id). `restocked` may be less than the line's units: a return's damaged
-- units, or units the paid order never took from stock (a recorded shortfall).
CREATE TABLE restocks (
    reason     text NOT NULL CHECK (reason IN ('cancelled_after_payment', 'returned')),
    ref        text NOT NULL,
    line_no    int NOT NULL,
    order_id   text NOT NULL,
    sku_id     uuid NOT NULL REFERENCES skus,
    quantity   int NOT NULL CHECK (quantity >= 0),
    restocked  int NOT NULL CHECK (restocked BETWEEN 0 AND quantity),
    created_at timestamptz NOT NULL,
    PRIMARY KEY (reason, ref, line_no)
);

-- Replacement units an after-sales exchange took (`taken`: on hand -= quantity) and gave back (`released`: on hand
-- += quantity), once each, keyed by the exchange id (aftersales' case id). A release that arrives before any take
-- is kept as `released` with no `taken_at`, so a late take of that id takes nothing.
CREATE TABLE exchanges (
    exchange_id text PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants,
    product_id  uuid NOT NULL REFERENCES products,
    sku_id      uuid NOT NULL REFERENCES skus,
    quantity    int NOT NULL CHECK (quantity > 0),
    status      text NOT NULL CHECK (status IN ('taken', 'released')),
    taken_at    timestamptz,
    released_at timestamptz,
    created_at  timestamptz NOT NULL,
    CHECK ((status = 'released') = (released_at IS NOT NULL)),
    CHECK (status = 'released' OR taken_at IS NOT NULL)
);
CREATE INDEX exchanges_sku ON exchanges (sku_id);
