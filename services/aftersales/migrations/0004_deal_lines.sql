-- Local-life deal lines (issue 10): a line that buys a deal (OrderLine.deal_id; sku_id = product_id = deal_id) is
-- never shipped; its vouchers are issued instead (local.vouchers.issued.v1), and then its whole quantity counts as
-- shipped. Only a refund_only case opens on it (a redeemed voucher's bad service: unused ones are refunded by
-- local_life), until case_window_s after its vouchers' last day of validity.

-- The deal a line buys (from OrderPaid); NULL for goods.
ALTER TABLE order_lines ADD COLUMN deal_id uuid;

-- Lines already known: their deal from the OrderPaid kept in paid_orders.lines.
UPDATE order_lines l
SET deal_id = (p.lines -> l.line_no ->> 'deal_id')::uuid
FROM paid_orders p
WHERE p.order_id = l.order_id
  AND p.lines -> l.line_no ->> 'deal_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

-- A deal line's vouchers were issued (VouchersIssued, one per line): kept by the line's key, whether or not the
-- payment was heard of yet; the first word stands (a redelivery or a second issue changes nothing).
CREATE TABLE voucher_lines (
    order_id     uuid NOT NULL,
    line_no      int NOT NULL CHECK (line_no >= 0),
    deal_id      uuid NOT NULL,
    vouchers     int NOT NULL CHECK (vouchers > 0),
    issued_at    timestamptz NOT NULL,
    -- The latest valid_until of the line's vouchers: the case window runs from here.
    valid_until  timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
