-- One confirm of a payment at a time (docs/ARCHITECTURE.md, "Orders and payments: states"): a confirm claims its
-- payment until `confirming_until` (released when it answers; a claim of a process that died lapses by itself).
-- Attaching the card and confirming are two calls to Stripe; a second confirm between them would charge the first
-- one's request with the second one's card.
ALTER TABLE payments ADD COLUMN confirming_until timestamptz;
