-- Host tiers and customer segments (services/live/funnel; docs/ARCHITECTURE.md, "Tiers"), read from the funnel's
-- rollups and facts by a daily job and on demand.

-- Each host's tier now and the figures it was computed from (the 30 days up to `computed_at`, in `currency`).
CREATE TABLE host_tiers (
    host_id          text PRIMARY KEY,
    tier             text NOT NULL CHECK (tier IN ('S', 'A', 'B', 'C')),
    since            timestamptz NOT NULL,
    computed_at      timestamptz NOT NULL,
    window_from      timestamptz NOT NULL,
    currency         text NOT NULL,
    views            bigint NOT NULL,
    gross_paid_minor bigint NOT NULL,
    refunded_minor   bigint NOT NULL,
    net_minor        bigint NOT NULL,
    gpm_minor        bigint
);

-- A row per change of a host's tier (its first tier included): what it was, what it became, on which figures.
CREATE TABLE host_tier_changes (
    host_id       text NOT NULL,
    computed_at   timestamptz NOT NULL,
    tier          text NOT NULL CHECK (tier IN ('S', 'A', 'B', 'C')),
    previous_tier text CHECK (previous_tier IN ('S', 'A', 'B', 'C')),
    net_minor     bigint NOT NULL,
    gpm_minor     bigint,
    PRIMARY KEY (host_id, computed_at)
);

-- Each merchant's customers as last computed (replaced whole by each computation): segment, R, F, M.
CREATE TABLE customer_segments (
    merchant_id    text NOT NULL,
    person_id      text NOT NULL,
    segment        text NOT NULL
                   CHECK (segment IN ('prospect', 'new', 'active', 'paying', 'loyal', 'at_risk')),
    recency_days   int,
    last_paid_at   timestamptz,
    frequency      int NOT NULL,
    monetary_minor bigint NOT NULL,
    currency       text,
    PRIMARY KEY (merchant_id, person_id)
);
-- The listing: a merchant's customers (of a segment) by monetary, most first.
CREATE INDEX customer_segments_listing ON customer_segments (merchant_id, monetary_minor DESC, person_id);
CREATE INDEX customer_segments_segment ON customer_segments (merchant_id, segment, monetary_minor DESC, person_id);

-- When each merchant's segments were last computed.
CREATE TABLE customer_computations (
    merchant_id text PRIMARY KEY,
    computed_at timestamptz NOT NULL,
    customers   int NOT NULL
);

-- The daily run: due at once on the first start, then it moves itself to the next day (`tiers_daily_at_s`).
INSERT INTO due_jobs (kind, key, due_at) VALUES ('funnel_tiers_daily', 'daily', now())
ON CONFLICT (kind, key) DO NOTHING;
