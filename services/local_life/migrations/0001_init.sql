-- Paid orders as local_life learns them from orders' events: vouchers will be issued
-- against these once group-buy deals exist (local-life issue).
CREATE TABLE paid_orders (
    order_id     uuid PRIMARY KEY,
    buyer_id     text NOT NULL,
    merchant_id  uuid NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    currency     char(3) NOT NULL,
    sku_ids      text[] NOT NULL,
    paid_at      timestamptz NOT NULL
);
