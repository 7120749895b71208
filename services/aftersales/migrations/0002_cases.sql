-- After-sales cases, and what aftersales needs to know of an order to judge one, learned from orders' events.
--
-- Orders' events arrive in any order (OrderShipped may come before OrderPaid), so each is kept by its own key and
-- what a line holds is summed when read: no event has to find another's row already there.

-- The lines of a paid order (from OrderPaid; line_no = the line's index in the event, as orders numbers them).
CREATE TABLE order_lines (
    order_id    uuid NOT NULL,
    line_no     int NOT NULL CHECK (line_no >= 0),
    sku_id      uuid NOT NULL,
    product_id  uuid NOT NULL,
    quantity    int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

-- Units shipped, one row per shipment and line (OrderShipped).
CREATE TABLE shipped_lines (
    order_id     uuid NOT NULL,
    shipment_id  uuid NOT NULL,
    line_no      int NOT NULL,
    quantity     int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, shipment_id, line_no)
);

-- Paid units cancelled before they shipped, one row per cancel's grant and line (OrderCancelledAfterPayment).
CREATE TABLE cancelled_lines (
    order_id  uuid NOT NULL,
    grant_id  uuid NOT NULL,
    line_no   int NOT NULL,
    quantity  int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, grant_id, line_no)
);

-- When the order was delivered (OrderDelivered) and whether it was cancelled whole: kept apart from paid_orders so
-- that either may arrive before the payment (an upsert here, never an update of a row that may not exist yet).
CREATE TABLE order_progress (
    order_id      uuid PRIMARY KEY,
    delivered_at  timestamptz,
    cancelled     boolean NOT NULL DEFAULT false
);

CREATE TABLE cases (
    case_id               uuid PRIMARY KEY,
    order_id              uuid NOT NULL,
    buyer_id              text NOT NULL,
    merchant_id           uuid NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('refund_only', 'return_and_refund', 'exchange')),
    status                text NOT NULL CHECK (status IN (
        'requested', 'rejected', 'awaiting_return', 'return_in_transit', 'receipt_refused', 'replacement_pending',
        'refund_offered', 'escalated', 'refund_pending', 'refund_failed', 'refunded', 'exchanged', 'closed',
        'cancelled')),
    -- Whose move it is: merchant, buyer, operator, platform (money under way); NULL once final.
    next_action           text CHECK (next_action IN ('merchant', 'buyer', 'operator', 'platform')),
    -- When the state's timeout move happens (the case_deadline job's due time); NULL where none applies.
    deadline              timestamptz,
    reason_code           text NOT NULL,
    description           text NOT NULL DEFAULT '',
    evidence_urls         jsonb NOT NULL DEFAULT '[]'::jsonb,
    reject_reason         text,
    refuse_reason         text,
    -- The state a case was escalated from (rejected, receipt_refused, replacement_pending): what the operator rules on.
    escalated_from        text,
    -- The operator's ruling: 'buyer' or 'merchant'.
    decision              text CHECK (decision IN ('buyer', 'merchant')),
    decision_note         text,
    return_carrier        text,
    return_tracking       text,
    replacement_carrier   text,
    replacement_tracking  text,
    -- Refund grants made for the case: the current one is derived_id('grant', case_id, grant_attempt).
    grant_attempt         int NOT NULL DEFAULT 0,
    refund_amount_minor   bigint,
    stripe_refund_id      text,
    -- The buyer's Idempotency-Key the case was opened with.
    idempotency           text NOT NULL,
    -- Bumped by every move: a move applies only to the version it was decided on.
    version               int NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    closed_at             timestamptz,
    CHECK ((status IN ('refunded', 'exchanged', 'closed', 'cancelled')) = (closed_at IS NOT NULL))
);
CREATE INDEX cases_order ON cases (order_id);
CREATE INDEX cases_buyer ON cases (buyer_id, created_at DESC, case_id DESC);
CREATE INDEX cases_merchant ON cases (merchant_id, deadline);
CREATE INDEX cases_operator ON cases (updated_at) WHERE status IN ('escalated', 'refund_failed');

CREATE TABLE case_lines (
    case_id             uuid NOT NULL REFERENCES cases (case_id),
    order_id            uuid NOT NULL,
    line_no             int NOT NULL,
    sku_id              uuid NOT NULL,
    quantity            int NOT NULL CHECK (quantity > 0),
    -- exchange: the SKU the buyer gets instead (the same SKU, or another of the same product).
    replacement_sku_id  uuid,
    -- Set when the return is received: units fit to sell again.
    restockable         int CHECK (restockable BETWEEN 0 AND quantity),
    PRIMARY KEY (case_id, line_no)
);
CREATE INDEX case_lines_order_line ON case_lines (order_id, line_no);

-- The case's history: who did what, when, and where it left the case.
CREATE TABLE case_events (
    seq      bigserial PRIMARY KEY,
    case_id  uuid NOT NULL REFERENCES cases (case_id),
    at       timestamptz NOT NULL,
    -- buyer, merchant, operator, platform (a deadline, a refund's result).
    actor    text NOT NULL,
    action   text NOT NULL,
    status   text NOT NULL,
    note     text
);
CREATE INDEX case_events_case ON case_events (case_id, seq);
