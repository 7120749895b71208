-- Whether live vouched for a cart line's source (a room that exists and sells for the SKU's merchant): NULL exactly
-- when the line has no source; false when live did not answer in time, and for sources nobody checks (video,
-- search). Lines added before this column had no recorded answer, so they are false (not known to be verified).
-- A checkout asks live again, and orders' answer is the one that counts for the order.
ALTER TABLE cart_items ADD COLUMN source_verified boolean;
UPDATE cart_items SET source_verified = false WHERE source_type IS NOT NULL;
ALTER TABLE cart_items
    ADD CONSTRAINT cart_items_source_verified_check CHECK ((source_type IS NULL) = (source_verified IS NULL));
