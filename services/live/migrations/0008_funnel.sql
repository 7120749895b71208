-- The conversion funnel (services/live/funnel; docs/ARCHITECTURE.md, "Conversion funnel"): a read model folded from
-- every service's events by micro-batched consumers. Facts are append-only and keyed by what happened (not by the
-- event id: a republished outbox row has a new event id but the same fact), so a fact is counted once however often
-- it arrives; the rollups and uniques change only in the transaction that inserted the fact.
-- Ids are text here: the model mixes our UUIDs with principals' subjects (host, viewer and buyer ids).

CREATE TABLE funnel_facts (
    fact_key     text PRIMARY KEY,
    step         text NOT NULL,
    at           timestamptz NOT NULL,
    -- Where the step is attributed: 'room' | 'video' | NULL (none); the scopes below are filled from it.
    source_type  text CHECK (source_type IN ('room', 'video')),
    room_id      text,
    session_id   text,
    video_id     text,
    sale_id      text,
    host_id      text,
    merchant_id  text,
    -- The viewer or buyer the step is of.
    person_id    text,
    product_id   text,
    deal_id      text,
    order_id     text,
    quantity     int NOT NULL DEFAULT 0,
    amount_minor bigint NOT NULL DEFAULT 0,
    currency     text,
    watch_s      double precision NOT NULL DEFAULT 0,
    trace_id     text
);
CREATE INDEX funnel_facts_at ON funnel_facts (at);
-- The figures count distinct orders per scope from the order and paid facts (facts are per line).
CREATE INDEX funnel_facts_room_orders ON funnel_facts (room_id, step, order_id) WHERE step IN ('order', 'paid');
CREATE INDEX funnel_facts_session_orders ON funnel_facts (session_id, step, order_id) WHERE step IN ('order', 'paid');
CREATE INDEX funnel_facts_video_orders ON funnel_facts (video_id, step, order_id) WHERE step IN ('order', 'paid');
CREATE INDEX funnel_facts_sale_orders ON funnel_facts (sale_id, step, order_id) WHERE step IN ('order', 'paid');
CREATE INDEX funnel_facts_host_orders ON funnel_facts (host_id, step, order_id) WHERE step IN ('order', 'paid');
-- Customer tiers (RFM) read a merchant's buyers' steps.
CREATE INDEX funnel_facts_merchant_person ON funnel_facts (merchant_id, person_id, at);

-- Per-minute rollups by scope ('room', 'session', 'video', 'sale', 'host', 'merchant'). `currency` is '' for steps
-- without money; money steps are kept per currency.
CREATE TABLE funnel_minutes (
    scope        text NOT NULL CHECK (scope IN ('room', 'session', 'video', 'sale', 'host', 'merchant')),
    scope_id     text NOT NULL,
    step         text NOT NULL,
    minute       timestamptz NOT NULL CHECK (date_trunc('minute', minute) = minute),
    currency     text NOT NULL DEFAULT '',
    n            bigint NOT NULL DEFAULT 0,
    quantity     bigint NOT NULL DEFAULT 0,
    amount_minor bigint NOT NULL DEFAULT 0,
    watch_s      double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, scope_id, step, minute, currency)
);

-- Exact unique people per scope: 'viewer' (a counted view or a video play), 'clicker', 'buyer' (a paid order).
CREATE TABLE funnel_uniques (
    scope     text NOT NULL,
    scope_id  text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('viewer', 'clicker', 'buyer')),
    person_id text NOT NULL,
    first_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, scope_id, kind, person_id)
);

-- What a buyer touched, for attribution: clicks on a product or deal in a room or on a video's anchor, and cart
-- lines put with a room or video source. `item_id` is the product or deal.
CREATE TABLE funnel_touches (
    person_id   text NOT NULL,
    item_id     text NOT NULL,
    at          timestamptz NOT NULL,
    source_type text NOT NULL CHECK (source_type IN ('room', 'video')),
    source_id   text NOT NULL,
    session_id  text,
    host_id     text,
    fact_key    text NOT NULL UNIQUE
);
CREATE INDEX funnel_touches_last ON funnel_touches (person_id, item_id, at DESC);

-- Each order line's attribution, fixed when the order is first seen (placed, or paid if that comes first);
-- refunds and redemptions of the line are attributed the same.
CREATE TABLE funnel_order_lines (
    order_id     text NOT NULL,
    line_no      int NOT NULL,
    source_type  text CHECK (source_type IN ('room', 'video')),
    room_id      text,
    session_id   text,
    video_id     text,
    sale_id      text,
    host_id      text,
    merchant_id  text NOT NULL,
    buyer_id     text NOT NULL,
    product_id   text,
    deal_id      text,
    attributed_at timestamptz NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
