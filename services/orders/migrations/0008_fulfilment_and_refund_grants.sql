-- Fulfilment: a paid order ships in one or more shipments, is delivered, and completes (the buyer confirms receipt,
-- or `complete_by` passes with no after-sales case open). Paid units not shipped may be cancelled and refunded.
ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check CHECK (status IN (
    'awaiting_payment', 'paid', 'partially_shipped', 'shipped', 'delivered', 'completed', 'cancelled'));
ALTER TABLE orders
    -- paid_at + the ship window: past it with units left to ship, the order is late and the buyer may cancel them.
    ADD COLUMN ship_by timestamptz,
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN completed_at timestamptz,
    -- 'buyer' or 'auto'.
    ADD COLUMN completed_by text,
    -- When the order completes by itself (delivered_at + the confirm window, moved on by every pause).
    ADD COLUMN complete_by timestamptz,
    -- Set while after-sales cases are open on the order: the completion clock is stopped since then.
    ADD COLUMN completion_paused_at timestamptz,
    ADD CONSTRAINT orders_completed_check CHECK (status <> 'completed' OR completed_at IS NOT NULL);
UPDATE orders SET ship_by = paid_at + interval '48 hours' WHERE paid_at IS NOT NULL;
CREATE INDEX orders_to_ship ON orders (merchant_id, ship_by) WHERE status IN ('paid', 'partially_shipped');

-- The quantity ledger of a line: what happened to its units. What is still shippable, refundable or returnable is
-- derived from it (domain), never stored.
ALTER TABLE order_lines
    ADD COLUMN shipped_qty int NOT NULL DEFAULT 0,
    ADD COLUMN delivered_qty int NOT NULL DEFAULT 0,
    -- Paid units cancelled before they shipped (refunded by the cancel's grant).
    ADD COLUMN cancelled_qty int NOT NULL DEFAULT 0,
    -- Units in refund grants pending or succeeded (cancelled ones included); refunded_qty: those Stripe refunded.
    ADD COLUMN refund_requested_qty int NOT NULL DEFAULT 0,
    ADD COLUMN refunded_qty int NOT NULL DEFAULT 0,
    ADD COLUMN returned_qty int NOT NULL DEFAULT 0,
    ADD COLUMN restocked_qty int NOT NULL DEFAULT 0,
    ADD CONSTRAINT order_lines_ledger_check CHECK (
        shipped_qty >= 0 AND cancelled_qty >= 0 AND shipped_qty + cancelled_qty <= quantity
        AND delivered_qty BETWEEN 0 AND shipped_qty
        AND refunded_qty BETWEEN 0 AND refund_requested_qty AND refund_requested_qty <= quantity
        AND returned_qty BETWEEN 0 AND shipped_qty AND restocked_qty BETWEEN 0 AND returned_qty);

CREATE TABLE shipments (
    shipment_id      uuid PRIMARY KEY,
    order_id         uuid NOT NULL REFERENCES orders (order_id),
    merchant_id      uuid NOT NULL,
    buyer_id         text NOT NULL,
    carrier          text NOT NULL,
    tracking_number  text NOT NULL,
    status           text NOT NULL CHECK (status IN ('shipped', 'delivered')),
    shipped_at       timestamptz NOT NULL,
    delivered_at     timestamptz,
    -- 'merchant' or 'carrier'.
    delivered_by     text,
    CHECK ((status = 'delivered') = (delivered_at IS NOT NULL)),
    UNIQUE (carrier, tracking_number)
);
CREATE INDEX shipments_order ON shipments (order_id);

CREATE TABLE shipment_lines (
    shipment_id  uuid NOT NULL REFERENCES shipments (shipment_id),
    order_id     uuid NOT NULL,
    line_no      int NOT NULL,
    quantity     int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (shipment_id, line_no),
    FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no)
);

-- Carrier callbacks applied (replay-safe: an event id is applied once).
CREATE TABLE carrier_events (
    event_id     text PRIMARY KEY,
    carrier      text NOT NULL,
    received_at  timestamptz NOT NULL
);

-- After-sales cases open on an order (aftersales.case.opened / closed): while any is, auto-completion waits.
CREATE TABLE open_cases (
    case_id    uuid PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (order_id),
    opened_at  timestamptz NOT NULL
);
CREATE INDEX open_cases_order ON open_cases (order_id);
-- A case closed before its opening arrived (events are not ordered): remembered so the late opening is ignored.
CREATE TABLE closed_cases (
    case_id    uuid PRIMARY KEY,
    closed_at  timestamptz NOT NULL
);

-- Refund grants: money given back for units of one order (an after-sales case's decision, or a cancel of unshipped
-- units). One Stripe Refund per grant, for exactly amount_minor, idempotency key derived from grant_id. Under the
-- order's row lock: sum(amount of pending + succeeded grants) <= the order's amount_minor.
CREATE TABLE refund_grants (
    grant_id                  uuid PRIMARY KEY,
    order_id                  uuid NOT NULL REFERENCES orders (order_id),
    case_id                   uuid,
    -- 'case' or 'cancel'.
    origin                    text NOT NULL CHECK (origin IN ('case', 'cancel')),
    amount_minor              bigint NOT NULL CHECK (amount_minor > 0),
    currency                  char(3) NOT NULL,
    status                    text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    stripe_payment_intent_id  text NOT NULL,
    stripe_refund_id          text,
    attempts                  int NOT NULL DEFAULT 0,
    last_error                text,
    failure_reason            text,
    created_at                timestamptz NOT NULL,
    settled_at                timestamptz,
    CHECK (status = 'pending' OR settled_at IS NOT NULL),
    CHECK (status <> 'succeeded' OR stripe_refund_id IS NOT NULL)
);
CREATE INDEX refund_grants_order ON refund_grants (order_id);
CREATE UNIQUE INDEX refund_grants_stripe_refund ON refund_grants (stripe_refund_id) WHERE stripe_refund_id IS NOT NULL;

CREATE TABLE refund_grant_lines (
    grant_id      uuid NOT NULL REFERENCES refund_grants (grant_id),
    order_id      uuid NOT NULL,
    line_no       int NOT NULL,
    quantity      int NOT NULL CHECK (quantity > 0),
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (grant_id, line_no),
    FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no)
);

-- Grants refused before any money moved (over the cap or the ledger) are remembered, so a redelivered grant is
-- refused the same way and never becomes a refund later.
CREATE TABLE refused_grants (
    grant_id     uuid PRIMARY KEY,
    order_id     uuid NOT NULL,
    reason       text NOT NULL,
    refused_at   timestamptz NOT NULL
);

