-- Voucher refunds (the buyer's, any time before use, and the expiry job's for auto-refund deals), and settlement of
-- redeemed vouchers with their merchant.

-- One row per refund local_life asked orders for (DealRefundRequested), under the grant id orders answers with:
-- RefundSucceeded / RefundFailed of a grant not here are not ours (a team's refund, an after-sales case).
CREATE TABLE voucher_refunds (
    grant_id        uuid PRIMARY KEY,
    reason          text NOT NULL CHECK (reason IN ('buyer', 'expired')),
    order_id        uuid NOT NULL,
    buyer_id        text NOT NULL,
    merchant_id     uuid NOT NULL,
    deal_id         uuid NOT NULL REFERENCES deals (deal_id),
    -- The vouchers taken back (the ones asked; a card's every voucher), sorted; what they cost their buyer.
    voucher_ids     uuid[] NOT NULL CHECK (cardinality(voucher_ids) > 0),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    currency        char(3),
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_reason  text,
    -- What orders actually gave back (its grant's amount: the units' share of the line, discount included).
    refunded_minor  bigint,
    requested_at    timestamptz NOT NULL,
    decided_at      timestamptz,
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX voucher_refunds_buyer ON voucher_refunds (buyer_id, requested_at DESC);

-- The refund a voucher is in (while refund_pending, and for ever once refunded); cleared when the refund failed.
ALTER TABLE vouchers
    ADD COLUMN refund_grant_id uuid REFERENCES voucher_refunds (grant_id),
    ADD COLUMN refunded_at     timestamptz,
    ADD COLUMN expired_at      timestamptz,
    ADD CONSTRAINT vouchers_refund_grant CHECK (status NOT IN ('refund_pending', 'refunded') OR refund_grant_id IS NOT NULL);
CREATE INDEX vouchers_refund_grant ON vouchers (refund_grant_id) WHERE refund_grant_id IS NOT NULL;
CREATE INDEX vouchers_merchant_deal ON vouchers (merchant_id, deal_id);

-- A merchant's settlement: every redemption due at `cut_at` (redeemed, not undone, past the undo window, not yet
-- settled) taken in one transaction; its totals per currency beside it.
CREATE TABLE settlements (
    settlement_id   uuid PRIMARY KEY,
    merchant_id     uuid NOT NULL,
    cut_at          timestamptz NOT NULL,   -- redemptions made before this instant (now - undo window)
    created_at      timestamptz NOT NULL
);
CREATE INDEX settlements_merchant ON settlements (merchant_id, created_at DESC, settlement_id DESC);

CREATE TABLE settlement_totals (
    settlement_id   uuid NOT NULL REFERENCES settlements (settlement_id),
    currency        char(3) NOT NULL,
    redemptions     int NOT NULL CHECK (redemptions > 0),
    amount_minor    bigint NOT NULL CHECK (amount_minor >= 0),
    PRIMARY KEY (settlement_id, currency)
);

ALTER TABLE redemptions
    ADD COLUMN settlement_id uuid REFERENCES settlements (settlement_id),
    ADD COLUMN settled_at    timestamptz,
    ADD CONSTRAINT redemptions_settled CHECK ((settlement_id IS NULL) = (settled_at IS NULL)),
    -- An undone redemption is never settled, a settled one never undone.
    ADD CONSTRAINT redemptions_settled_not_undone CHECK (settlement_id IS NULL OR undone_at IS NULL);
-- What is due to a merchant: its live, unsettled redemptions by time.
CREATE INDEX redemptions_due ON redemptions (merchant_id, redeemed_at)
    WHERE settlement_id IS NULL AND undone_at IS NULL;
CREATE INDEX redemptions_merchant_day ON redemptions (merchant_id, redeemed_at);
