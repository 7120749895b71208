-- Refunds counted per room (orders.refund.succeeded.v1, consumer live__room_refunds), beside the paid orders: each
-- refund once in every room among its lines, with the amount of that room's lines; an order refunded several times
-- (a cancel, then a case) counts once in `refunded_orders`, by its row in room_refunded_orders.
ALTER TABLE room_stats
    ADD COLUMN refunds               bigint NOT NULL DEFAULT 0 CHECK (refunds >= 0),
    ADD COLUMN refunded_orders       bigint NOT NULL DEFAULT 0 CHECK (refunded_orders BETWEEN 0 AND refunds),
    ADD COLUMN refunded_amount_minor bigint NOT NULL DEFAULT 0 CHECK (refunded_amount_minor >= 0);

CREATE TABLE room_refunded_orders (
    room_id  uuid NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,
    order_id text NOT NULL,
    PRIMARY KEY (room_id, order_id)
);
