-- Local-life deal lines: an order line may buy a deal (local_life issues its vouchers once the order is paid). Such a
-- line has sku_id = product_id = deal_id, is never shipped, and counts its units shipped once its vouchers exist
-- (local.vouchers.issued.v1); team_id is the team-buy seat it holds, if any.
ALTER TABLE order_lines
    ADD COLUMN deal_id uuid,
    ADD COLUMN team_id text,
    ADD CONSTRAINT order_lines_deal_check CHECK (deal_id IS NULL OR (sku_id = deal_id AND product_id = deal_id)),
    ADD CONSTRAINT order_lines_team_check CHECK (team_id IS NULL OR deal_id IS NOT NULL);

-- Grants local_life asks for (vouchers refunded before use or at expiry, a team buy that did not fill).
ALTER TABLE refund_grants DROP CONSTRAINT refund_grants_origin_check;
ALTER TABLE refund_grants ADD CONSTRAINT refund_grants_origin_check CHECK (origin IN ('case', 'cancel', 'local_life'));
