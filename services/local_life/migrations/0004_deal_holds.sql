-- Deal holds for checkouts (rpc.local.deal.reserve.v1): a hold counts in its deal's `sold` and in the buyer's units
-- until the order is paid (committed) or cancelled, abandoned or lapsed (released).
-- Checkout, buyer, order and room ids are minted elsewhere: text, so a malformed one matches nothing.

-- One row per checkout that reserved deals here: claimed first, so two retries of one checkout never both hold;
-- commit, release and expiry lock it to move the checkout's holds one at a time.
CREATE TABLE deal_checkouts (
    checkout_id  text PRIMARY KEY,
    buyer_id     text NOT NULL,
    hold_until   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL
);

-- The request's items (merged per deal, all or none) priced at reservation time: a retried reserve answers these
-- rows again, and a retry with other items is a `checkout_conflict`. Status moves held -> committed | released once
-- (released -> committed too: a payment landing after the hold lapsed still counts).
CREATE TABLE deal_holds (
    checkout_id      text NOT NULL REFERENCES deal_checkouts,
    deal_id          uuid NOT NULL REFERENCES deals (deal_id),
    position         int NOT NULL CHECK (position >= 0),  -- order of the deal's first item in the request
    buyer_id         text NOT NULL,
    quantity         int NOT NULL CHECK (quantity > 0),
    room_id          text,
    merchant_id      uuid NOT NULL,
    title            text NOT NULL,
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor > 0),
    currency         char(3) NOT NULL,
    status           text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'committed', 'released')),
    hold_until       timestamptz NOT NULL,
    created_at       timestamptz NOT NULL,
    settled_at       timestamptz,
    order_id         text,
    PRIMARY KEY (checkout_id, deal_id),
    CHECK ((status = 'held') = (settled_at IS NULL))
);
-- A buyer's held and committed units of a deal, against its per_buyer_limit.
CREATE INDEX deal_holds_buyer ON deal_holds (deal_id, buyer_id) WHERE status IN ('held', 'committed');
