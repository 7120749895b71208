-- Checkouts: one buyer's purchase of one cart, paid with one Stripe PaymentIntent.
CREATE TABLE checkouts (
    checkout_id    uuid PRIMARY KEY,
    buyer_id       text NOT NULL,
    status         text NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'expired')),
    amount_minor   bigint NOT NULL CHECK (amount_minor >= 0),
    currency       char(3) NOT NULL,
    pay_by         timestamptz NOT NULL,
    room_id        text,
    -- The checkout request's trace context: the webhook's span links back to it.
    trace_headers  jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL,
    paid_at        timestamptz,
    expired_at     timestamptz
);
CREATE INDEX checkouts_buyer ON checkouts (buyer_id, created_at DESC);

-- One order per merchant of a checkout.
CREATE TABLE orders (
    order_id       uuid PRIMARY KEY,
    checkout_id    uuid NOT NULL REFERENCES checkouts (checkout_id),
    buyer_id       text NOT NULL,
    merchant_id    uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('awaiting_payment', 'paid', 'cancelled')),
    amount_minor   bigint NOT NULL CHECK (amount_minor >= 0),
    currency       char(3) NOT NULL,
    created_at     timestamptz NOT NULL,
    paid_at        timestamptz,
    cancelled_at   timestamptz,
    cancel_reason  text,
    UNIQUE (checkout_id, merchant_id),
    CHECK (status <> 'paid' OR paid_at IS NOT NULL),
    CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL)
);
CREATE INDEX orders_buyer ON orders (buyer_id, created_at DESC, order_id DESC);
CREATE INDEX orders_merchant ON orders (merchant_id, created_at DESC, order_id DESC);
CREATE INDEX orders_checkout ON orders (checkout_id);

CREATE TABLE order_lines (
    order_id          uuid NOT NULL REFERENCES orders (order_id),
    line_no           int NOT NULL CHECK (line_no >= 0),
    sku_id            uuid NOT NULL,
    product_id        uuid NOT NULL,
    title             text NOT NULL,
    sku_name          text NOT NULL,
    quantity          int NOT NULL CHECK (quantity > 0),
    unit_price_minor  bigint NOT NULL CHECK (unit_price_minor >= 0),
    amount_minor      bigint NOT NULL CHECK (amount_minor = unit_price_minor * quantity),
    room_id           text,
    PRIMARY KEY (order_id, line_no)
);

-- One payment per checkout; its PaymentIntent id is stored once and reused forever after.
CREATE TABLE payments (
    payment_id                uuid PRIMARY KEY,
    checkout_id               uuid NOT NULL UNIQUE REFERENCES checkouts (checkout_id),
    buyer_id                  text NOT NULL,
    amount_minor              bigint NOT NULL CHECK (amount_minor >= 0),
    currency                  char(3) NOT NULL,
    status                    text NOT NULL CHECK (status IN (
                                  'requires_payment', 'failed', 'succeeded', 'succeeded_after_cancel', 'refunded')),
    stripe_payment_intent_id  text UNIQUE,
    stripe_refund_id          text,
    last_error                text,
    created_at                timestamptz NOT NULL,
    updated_at                timestamptz NOT NULL,
    succeeded_at              timestamptz,
    refunded_at               timestamptz
);

-- Stripe delivers at least once, in any order: an event id is applied once.
CREATE TABLE stripe_events (
    event_id     text PRIMARY KEY,
    type         text NOT NULL,
    payment_id   uuid,
    received_at  timestamptz NOT NULL
);
