-- Jobs are claimed with a lease and run each in its own transaction, so a job may call out
-- (e.g. to Stripe) without holding row locks, and a crashed instance's job runs elsewhere.
ALTER TABLE due_jobs ADD COLUMN locked_until timestamptz;
