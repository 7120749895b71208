-- A stored answer is the body the first request got; which HTTP status it went out with is the API's business
-- (each endpoint answers one status on success), not the database's.
ALTER TABLE idempotency_keys DROP COLUMN status_code;
