-- The trace context a line's vouchers were issued in (the paid order's trace, through the OrderPaid consumer): a
-- redemption, days later and in a trace of its own, links back to it (docs/ARCHITECTURE.md, "Following one order's
-- trace"). Lines issued before this column link nowhere.
ALTER TABLE issued_lines ADD COLUMN trace_headers jsonb NOT NULL DEFAULT '{}'::jsonb;
