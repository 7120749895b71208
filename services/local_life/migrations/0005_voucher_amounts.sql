-- What each voucher cost its buyer (its share of the line's amount after the coupon, split over the line's vouchers
-- with the remainder on the first ones: they sum to the line's amount exactly) and which purchase (unit) of the line
-- it belongs to (a 3-visit card's three vouchers share one unit: refunds take a unit whole). Settlement pays the
-- merchant the amounts of redeemed vouchers; refunds are priced by orders on units.
ALTER TABLE vouchers
    ADD COLUMN amount_minor bigint NOT NULL DEFAULT 0 CHECK (amount_minor >= 0),
    ADD COLUMN unit_no      int NOT NULL DEFAULT 1 CHECK (unit_no >= 1),
    ADD COLUMN currency     char(3);
CREATE INDEX vouchers_line_unit ON vouchers (order_id, line_no, unit_no);
