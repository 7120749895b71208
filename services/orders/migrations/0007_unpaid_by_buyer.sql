-- The holding caps count a buyer's unpaid checkouts and units on every checkout: read only what is unpaid, not the
-- buyer's whole history (a regular buyer's paid and expired rows grow without bound, the unpaid ones are capped).
CREATE INDEX checkouts_buyer_unpaid ON checkouts (buyer_id) WHERE status = 'awaiting_payment';
CREATE INDEX orders_buyer_unpaid ON orders (buyer_id) WHERE status = 'awaiting_payment';
