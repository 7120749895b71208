-- What after-sales needs to know about paid orders to judge a case later
-- (who bought, from whom, what, for how much), learned from orders' events.
CREATE TABLE paid_orders (
    order_id     uuid PRIMARY KEY,
    buyer_id     text NOT NULL,
    merchant_id  uuid NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor >= 0),
    currency     char(3) NOT NULL,
    lines        jsonb NOT NULL,
    paid_at      timestamptz NOT NULL
);
CREATE INDEX paid_orders_buyer ON paid_orders (buyer_id);
CREATE INDEX paid_orders_merchant ON paid_orders (merchant_id);
