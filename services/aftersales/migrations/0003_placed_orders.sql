-- Orders aftersales has heard were placed (OrderPlaced, FlashSaleOrdersPlaced) or cancelled unpaid (OrderCancelled:
-- the payment window closed), so that a case on a buyer's order that is not paid, or never will be, is told apart
-- from one on an unknown or someone else's order. Payment itself is paid_orders' (OrderPaid).
--
-- Every one of these events carries the order's buyer and merchant, and they may arrive in any order (the cancel
-- before the placing, the payment before either): each is an upsert, and the cancel's mark is never undone.
CREATE TABLE placed_orders (
    order_id          uuid PRIMARY KEY,
    buyer_id          text NOT NULL,
    merchant_id       uuid NOT NULL,
    cancelled_unpaid  boolean NOT NULL DEFAULT false
);
