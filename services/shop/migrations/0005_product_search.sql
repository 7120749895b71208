-- Product search (issue 11): published products by title, with pg_trgm as local_life searches deals.
--
-- An extension is installed once per database, in one schema. local_life's migration puts pg_trgm in its own
-- schema, where shop (search_path `shop, public`) cannot see it, and shop migrating first would hide it from
-- local_life in the same way. So pg_trgm lives in `public`, the one schema every service's search_path names:
-- created there if missing, moved there if another service's migration installed it in its own schema (its
-- indexes keep working: they refer to the operator class, not to its schema).
DO $$
DECLARE
    home text := (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm');
BEGIN
    IF home IS NULL THEN
        CREATE EXTENSION pg_trgm SCHEMA public;
    ELSIF home <> 'public' THEN
        ALTER EXTENSION pg_trgm SET SCHEMA public;
    END IF;
END
$$;

-- `<%` (word similarity) and ILIKE both use it.
CREATE INDEX products_title_trgm ON products USING gin (title gin_trgm_ops);
-- Browsing without a query: newest published first.
CREATE INDEX products_published_newest ON products (created_at DESC, product_id DESC) WHERE status = 'published';
