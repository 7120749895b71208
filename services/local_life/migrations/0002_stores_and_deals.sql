-- Stores, their clerks, and group-buy deals sold for one, several or all of a merchant's stores.
--
-- pg_trgm (title search) goes into the schema being migrated (the first on the search_path the migrator and the
-- pool set), so local_life needs no rights on `public`; distance needs no extension (haversine in plain SQL).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE stores (
    store_id       uuid PRIMARY KEY,
    merchant_id    uuid NOT NULL,
    name           text NOT NULL,
    address        text NOT NULL,
    lat            double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lng            double precision NOT NULL CHECK (lng BETWEEN -180 AND 180),
    phone          text NOT NULL DEFAULT '',
    timezone       text NOT NULL DEFAULT 'UTC',  -- IANA name; opening and usage hours are local to it
    -- {"0": [["09:00", "17:00"]], ...}: weekday (0 = Monday) -> ranges, local time; a weekday left out is closed.
    opening_hours  jsonb NOT NULL DEFAULT '{}',
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
-- Candidate stores of /deals/nearby come from a bounding box on these.
CREATE INDEX stores_lat_lng ON stores (lat, lng);
CREATE INDEX stores_merchant ON stores (merchant_id, created_at);

-- clerk_id is the `sub` of the clerk's token; its `store_id` claim names the store.
CREATE TABLE clerks (
    store_id     uuid NOT NULL REFERENCES stores (store_id),
    clerk_id     text NOT NULL,
    merchant_id  uuid NOT NULL,
    name         text NOT NULL,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'removed')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (store_id, clerk_id)
);

CREATE TABLE deals (
    deal_id                uuid PRIMARY KEY,
    merchant_id            uuid NOT NULL,
    title                  text NOT NULL,
    description            text NOT NULL DEFAULT '',
    price_minor            bigint NOT NULL CHECK (price_minor > 0),
    original_value_minor   bigint NOT NULL,
    currency               char(3) NOT NULL,
    vouchers_per_purchase  int NOT NULL DEFAULT 1 CHECK (vouchers_per_purchase BETWEEN 1 AND 50),
    -- Validity: an absolute window, or valid_days from purchase; never both, never neither.
    valid_from             timestamptz,
    valid_until            timestamptz,
    valid_days             int CHECK (valid_days > 0),
    -- 0 = Monday .. 6 = Sunday.
    usage_weekdays         int[] NOT NULL DEFAULT '{0,1,2,3,4,5,6}'
                           CHECK (usage_weekdays <@ '{0,1,2,3,4,5,6}'::int[] AND cardinality(usage_weekdays) > 0),
    usage_hours            jsonb,  -- ["HH:MM", "HH:MM"], local to the store; null = its opening hours
    per_visit_limit        int CHECK (per_visit_limit > 0),
    total_quantity         int CHECK (total_quantity > 0),
    sold                   int NOT NULL DEFAULT 0 CHECK (sold >= 0),
    per_buyer_limit        int CHECK (per_buyer_limit > 0),
    auto_refund_at_expiry  boolean NOT NULL DEFAULT true,
    team_size              int CHECK (team_size >= 2),
    team_window_s          int NOT NULL DEFAULT 86400 CHECK (team_window_s > 0),
    all_stores             boolean NOT NULL DEFAULT false,
    status                 text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'ended')),
    published_at           timestamptz,
    ended_at               timestamptz,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    CHECK (original_value_minor >= price_minor),
    CHECK (total_quantity IS NULL OR sold <= total_quantity),
    CHECK (
        (valid_days IS NULL AND valid_from IS NOT NULL AND valid_until IS NOT NULL AND valid_from < valid_until)
        OR (valid_days IS NOT NULL AND valid_from IS NULL AND valid_until IS NULL)
    )
);
CREATE INDEX deals_merchant ON deals (merchant_id, created_at);
CREATE INDEX deals_published_merchant ON deals (merchant_id) WHERE status = 'published';
CREATE INDEX deals_title_trgm ON deals USING gin (title gin_trgm_ops);

-- The stores a deal is sold for, unless deals.all_stores.
CREATE TABLE deal_stores (
    deal_id   uuid NOT NULL REFERENCES deals (deal_id),
    store_id  uuid NOT NULL REFERENCES stores (store_id),
    PRIMARY KEY (deal_id, store_id)
);
CREATE INDEX deal_stores_store ON deal_stores (store_id);
