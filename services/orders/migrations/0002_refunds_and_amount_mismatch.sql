-- A payment whose PaymentIntent took another amount or currency than the checkout's is 'amount_mismatch': that
-- money goes back, and the buyer may pay again with a new PaymentIntent while the window is open.
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN (
    'requires_payment', 'failed', 'succeeded', 'succeeded_after_cancel', 'refunded', 'amount_mismatch'));

-- How many PaymentIntents this payment has given up (wrong amount); part of the key Stripe deduplicates
-- creation on, so the next intent is a new one rather than the old one replayed.
ALTER TABLE payments ADD COLUMN intent_attempt int NOT NULL DEFAULT 0 CHECK (intent_attempt >= 0);

-- Money Stripe took that we do not keep: one row per PaymentIntent, refunded in full by the refund_payment job
-- (keyed by the intent id; Stripe idempotency key refund-<intent id>).
CREATE TABLE refunds (
    stripe_payment_intent_id  text PRIMARY KEY,
    payment_id                uuid NOT NULL REFERENCES payments (payment_id),
    reason                    text NOT NULL CHECK (reason IN ('paid_after_expiry', 'amount_mismatch')),
    -- What Stripe says it took (for a mismatch, not what the checkout asked).
    amount_minor              bigint,
    currency                  text,
    status                    text NOT NULL CHECK (status IN ('pending', 'refunded')),
    stripe_refund_id          text,
    created_at                timestamptz NOT NULL,
    refunded_at               timestamptz,
    CHECK (status <> 'refunded' OR refunded_at IS NOT NULL)
);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Refunds owed or made before this table existed, and their jobs (keyed by payment id until now).
INSERT INTO refunds (stripe_payment_intent_id, payment_id, reason, amount_minor, currency, status, stripe_refund_id,
                     created_at, refunded_at)
SELECT stripe_payment_intent_id, payment_id, 'paid_after_expiry', amount_minor, currency,
       CASE WHEN status = 'refunded' THEN 'refunded' ELSE 'pending' END, stripe_refund_id,
       COALESCE(succeeded_at, updated_at), CASE WHEN status = 'refunded' THEN COALESCE(refunded_at, updated_at) END
FROM payments
WHERE status IN ('succeeded_after_cancel', 'refunded') AND stripe_payment_intent_id IS NOT NULL;
UPDATE due_jobs j SET key = p.stripe_payment_intent_id
FROM payments p
WHERE j.kind = 'refund_payment' AND j.key = p.payment_id::text AND p.stripe_payment_intent_id IS NOT NULL;
