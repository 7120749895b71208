-- Recovery of PaymentIntents whose recording was lost (docs/RELIABILITY.md, "Recovery"): when orders last asked
-- Stripe to create an intent for the payment (written and committed before the call), and when the orphan sweep
-- last looked at Stripe for intents of that request. A request not yet swept is a candidate: an intent Stripe made
-- for it may be unrecorded (the process died between Stripe's answer and the commit).
ALTER TABLE payments ADD COLUMN intent_requested_at timestamptz;
ALTER TABLE payments ADD COLUMN intent_swept_at timestamptz;
CREATE INDEX payments_unswept_intent_requests ON payments (intent_requested_at)
    WHERE intent_requested_at IS NOT NULL AND (intent_swept_at IS NULL OR intent_swept_at < intent_requested_at);
