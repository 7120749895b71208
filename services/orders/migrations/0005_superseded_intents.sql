-- Money taken by a PaymentIntent the payment no longer uses (given up for a fresh one after a decline localstripe
-- will not retry, or unknown to Stripe; or a concurrent twin that lost the race to be stored) goes back in full.
ALTER TABLE refunds DROP CONSTRAINT refunds_reason_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_reason_check CHECK (
    reason IN ('paid_after_expiry', 'amount_mismatch', 'superseded'));
