-- Checkouts refused after shop had reserved their stock (e.g. their coupon was lost to a concurrent checkout).
-- A row here and a row in checkouts never both exist for one id (both are written under the checkout's advisory
-- lock), so the CheckoutAbandoned that makes shop release the hold can never release a placed checkout's stock,
-- and a retry with the same Idempotency-Key answers 409 checkout-expired.
CREATE TABLE abandoned_checkouts (
    checkout_id   uuid PRIMARY KEY,
    buyer_id      text NOT NULL,
    reason        text NOT NULL,
    abandoned_at  timestamptz NOT NULL
);
