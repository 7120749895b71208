-- Vouchers issued for paid deal lines, the verify tokens of redemption at the counter, and redemptions.

-- One row per paid order line that got its vouchers: issuing a line twice is impossible (its key), whatever
-- redelivery or republishing of OrderPaid happens.
CREATE TABLE issued_lines (
    order_id       uuid NOT NULL,
    line_no        int NOT NULL CHECK (line_no >= 0),  -- index of the line in the event's lines
    deal_id        uuid NOT NULL REFERENCES deals (deal_id),
    merchant_id    uuid NOT NULL,
    buyer_id       text NOT NULL,
    room_id        text,
    flash_sale_id  text,
    issued_at      timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE vouchers (
    voucher_id     uuid PRIMARY KEY,
    order_id       uuid NOT NULL,
    line_no        int NOT NULL,
    seq            int NOT NULL CHECK (seq >= 1),  -- 1..n within its line
    deal_id        uuid NOT NULL REFERENCES deals (deal_id),
    merchant_id    uuid NOT NULL,
    buyer_id       text NOT NULL,
    -- The code: its SHA-256 (lookup), its last 4 characters (masking) and the code sealed with the service's
    -- voucher secret (shown again to its buyer); never the plain code.
    code_hash      bytea NOT NULL UNIQUE,
    code_last4     text NOT NULL,
    code_sealed    bytea NOT NULL,
    valid_from     timestamptz NOT NULL,
    valid_until    timestamptz NOT NULL,
    status         text NOT NULL DEFAULT 'unused'
                   CHECK (status IN ('unused', 'redeemed', 'refund_pending', 'refunded', 'expired')),
    issued_at      timestamptz NOT NULL,
    redeemed_at    timestamptz,
    CHECK (valid_from < valid_until),
    CHECK ((status = 'redeemed') = (redeemed_at IS NOT NULL)),
    UNIQUE (order_id, line_no, seq),
    FOREIGN KEY (order_id, line_no) REFERENCES issued_lines (order_id, line_no)
);
CREATE INDEX vouchers_buyer ON vouchers (buyer_id, issued_at DESC, voucher_id DESC);

-- What a clerk was offered by prepare: redeemable within 60 s by a clerk of the same store, once; the first
-- verify's answer is kept here and given again to a retry.
CREATE TABLE verify_tokens (
    token_hash     bytea PRIMARY KEY,
    store_id       uuid NOT NULL REFERENCES stores (store_id),
    merchant_id    uuid NOT NULL,
    clerk_id       text NOT NULL,
    voucher_ids    uuid[] NOT NULL CHECK (cardinality(voucher_ids) > 0),
    per_visit_limit int,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    result         jsonb,
    verified_at    timestamptz,
    verified_by    text
);
CREATE INDEX verify_tokens_expires ON verify_tokens (expires_at);

CREATE TABLE redemptions (
    redemption_id  uuid PRIMARY KEY,
    voucher_id     uuid NOT NULL REFERENCES vouchers (voucher_id),
    deal_id        uuid NOT NULL,
    merchant_id    uuid NOT NULL,
    store_id       uuid NOT NULL REFERENCES stores (store_id),
    clerk_id       text NOT NULL,
    redeemed_at    timestamptz NOT NULL,
    -- The voucher's source, as sold.
    order_id       uuid NOT NULL,
    line_no        int NOT NULL,
    room_id        text,
    flash_sale_id  text,
    undone_at      timestamptz,
    undone_by      text
);
-- Two clerks at two stores pressing at once redeem a voucher once.
CREATE UNIQUE INDEX redemptions_live ON redemptions (voucher_id) WHERE undone_at IS NULL;
CREATE INDEX redemptions_voucher ON redemptions (voucher_id, redeemed_at);
CREATE INDEX redemptions_store ON redemptions (store_id, redeemed_at);
