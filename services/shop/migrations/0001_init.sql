-- Shop: merchants, catalogue, stock and its reservations, buyer carts.
-- Ids this service mints are uuid; ids minted elsewhere (buyers, checkouts, orders, rooms) are text,
-- so a malformed foreign id is a row that matches nothing rather than a failed transaction.

CREATE TABLE merchants (
    merchant_id uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    currency    char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at  timestamptz NOT NULL
);

CREATE TABLE products (
    product_id  uuid PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'published' CHECK (status IN ('published', 'unpublished')),
    -- Bumped by every change a merchant makes; readers of ProductUpdated keep the newest.
    version     int NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX products_merchant ON products (merchant_id, created_at DESC);

CREATE TABLE skus (
    sku_id         uuid PRIMARY KEY,
    product_id     uuid NOT NULL REFERENCES products,
    merchant_id    uuid NOT NULL REFERENCES merchants,
    position       int NOT NULL,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price_minor    bigint NOT NULL CHECK (price_minor > 0),
    currency       char(3) NOT NULL,
    stock_on_hand  int NOT NULL CHECK (stock_on_hand >= 0),
    stock_reserved int NOT NULL DEFAULT 0 CHECK (stock_reserved >= 0),
    -- The invariant every reserve/commit/release relies on; the conditional updates keep it,
    -- and this constraint makes a bug fail loudly instead of overselling.
    CONSTRAINT skus_reserved_within_on_hand CHECK (stock_reserved <= stock_on_hand),
    UNIQUE (product_id, name)
);
CREATE INDEX skus_product ON skus (product_id, position);

-- What a merchant changed on a SKU and when (price and stock edits).
CREATE TABLE sku_changes (
    id          bigserial PRIMARY KEY,
    sku_id      uuid NOT NULL REFERENCES skus,
    field       text NOT NULL CHECK (field IN ('price_minor', 'stock_on_hand')),
    old_value   bigint,
    new_value   bigint NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL
);
CREATE INDEX sku_changes_sku ON sku_changes (sku_id, id);

CREATE TABLE reservations (
    checkout_id text PRIMARY KEY,
    buyer_id    text NOT NULL,
    status      text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'expired')),
    hold_until  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL
);

-- One line per SKU of a checkout, priced from our table at reservation time; a retried reserve
-- answers these rows again. Status moves held -> committed | released exactly once.
CREATE TABLE reservation_lines (
    checkout_id      text NOT NULL REFERENCES reservations,
    sku_id           uuid NOT NULL REFERENCES skus,
    position         int NOT NULL,
    quantity         int NOT NULL CHECK (quantity > 0),
    merchant_id      uuid NOT NULL,
    product_id       uuid NOT NULL,
    title            text NOT NULL,
    sku_name         text NOT NULL,
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor > 0),
    currency         char(3) NOT NULL,
    room_id          text,
    status           text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'committed', 'released')),
    order_id         text,
    settled_at       timestamptz,
    PRIMARY KEY (checkout_id, sku_id)
);
CREATE INDEX reservation_lines_order ON reservation_lines (order_id) WHERE order_id IS NOT NULL;

-- Paid units that could not be taken from stock (the hold had already lapsed and the units were
-- sold again): an oversell a merchant must resolve, never a broken stock invariant.
CREATE TABLE stock_shortfalls (
    id          bigserial PRIMARY KEY,
    checkout_id text NOT NULL,
    order_id    text NOT NULL,
    sku_id      uuid NOT NULL REFERENCES skus,
    merchant_id uuid NOT NULL,
    quantity    int NOT NULL CHECK (quantity > 0),
    created_at  timestamptz NOT NULL,
    UNIQUE (order_id, sku_id)
);
CREATE INDEX stock_shortfalls_merchant ON stock_shortfalls (merchant_id, created_at);

CREATE TABLE cart_items (
    buyer_id    text NOT NULL,
    sku_id      uuid NOT NULL REFERENCES skus,
    quantity    int NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    source_type text CHECK (source_type IN ('room', 'video', 'search')),
    source_id   text,
    added_at    timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (buyer_id, sku_id),
    CHECK ((source_type IS NULL) = (source_id IS NULL))
);
