-- What became of a deal line's vouchers at local_life (issue 10). A case on a deal line is for redeemed vouchers
-- (the service was bad): unused ones are refunded at local_life (POST /vouchers/refund), never through a case, and
-- units local_life refunded are never a case's. A deal line's units open to a case are then
-- min(quantity - refunded at local_life, vouchers with a live redemption) less the units of its other live cases.

-- One row per redemption (local.voucher.redeemed.v1, local.voucher.redemption_undone.v1), kept by its id so a
-- redelivery counts nothing twice and either event may arrive first: the redemption counts while `redeemed_at` is
-- set and `undone_at` is not (an undo heard of first takes back nothing until, and unless, its redemption comes).
CREATE TABLE voucher_redemptions (
    redemption_id  uuid PRIMARY KEY,
    order_id       uuid NOT NULL,
    line_no        int NOT NULL CHECK (line_no >= 0),
    deal_id        uuid NOT NULL,
    voucher_id     uuid NOT NULL,
    redeemed_at    timestamptz,
    undone_at      timestamptz
);
CREATE INDEX voucher_redemptions_line ON voucher_redemptions (order_id, line_no);

-- Units of deal lines local_life asked orders to refund (local.refund.requested.v1: the buyer's unused vouchers,
-- expiry, a team that did not fill), one row per grant and line: a redelivery or a second word changes nothing.
CREATE TABLE local_refund_lines (
    grant_id  uuid NOT NULL,
    order_id  uuid NOT NULL,
    line_no   int NOT NULL CHECK (line_no >= 0),
    deal_id   uuid NOT NULL,
    quantity  int NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (grant_id, line_no)
);
CREATE INDEX local_refund_lines_line ON local_refund_lines (order_id, line_no);

-- Grants orders refused or Stripe failed (orders.refund.failed.v1 without a case; final: a refund asked anew is a new
-- grant): their units were not refunded (local_life makes the vouchers usable again), so they count nothing. Kept by
-- grant id alone, so the failure may be heard of before the request.
CREATE TABLE failed_local_refunds (
    grant_id   uuid PRIMARY KEY,
    failed_at  timestamptz NOT NULL
);
