-- A team member refunded in full (its team failed) gives its units back to the deal: its hold ends `refunded`, a
-- final status the OrderPaid consumer leaves alone (so a payment processed after the refund never counts them again).
ALTER TABLE deal_holds DROP CONSTRAINT deal_holds_status_check;
ALTER TABLE deal_holds ADD CONSTRAINT deal_holds_status_check
    CHECK (status IN ('held', 'committed', 'released', 'refunded'));
