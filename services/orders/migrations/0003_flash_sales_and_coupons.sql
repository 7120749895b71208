-- Coupons claimed in live rooms (live.coupon.claimed.v1), kept until a checkout uses one. A coupon applies to one
-- order at a time: 'available' -> 'used' by a conditional update in the checkout's transaction, and back to
-- 'available' if that order is cancelled unpaid while the coupon is still valid.
CREATE TABLE coupons (
    coupon_id         uuid PRIMARY KEY,
    buyer_id          text NOT NULL,
    merchant_id       uuid NOT NULL,
    drop_id           text NOT NULL,
    room_id           text NOT NULL,
    kind              text NOT NULL CHECK (kind IN ('amount_off', 'percent_off')),
    amount_off_minor  bigint NOT NULL DEFAULT 0 CHECK (amount_off_minor >= 0),
    percent_off       int NOT NULL DEFAULT 0 CHECK (percent_off BETWEEN 0 AND 100),
    currency          char(3) NOT NULL,
    min_spend_minor   bigint NOT NULL DEFAULT 0 CHECK (min_spend_minor >= 0),
    valid_until       timestamptz NOT NULL,
    status            text NOT NULL CHECK (status IN ('available', 'used')),
    order_id          uuid,
    used_at           timestamptz,
    claimed_at        timestamptz NOT NULL,
    CHECK (kind <> 'amount_off' OR amount_off_minor > 0),
    CHECK (kind <> 'percent_off' OR percent_off > 0),
    CHECK ((status = 'used') = (order_id IS NOT NULL AND used_at IS NOT NULL))
);
CREATE INDEX coupons_order ON coupons (order_id) WHERE order_id IS NOT NULL;

-- An order's total is its lines' prices less its coupon's discount.
ALTER TABLE orders ADD COLUMN subtotal_minor bigint;
UPDATE orders SET subtotal_minor = amount_minor;
ALTER TABLE orders
    ALTER COLUMN subtotal_minor SET NOT NULL,
    ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    ADD COLUMN coupon_id uuid,
    ADD CONSTRAINT orders_total_check CHECK (amount_minor = subtotal_minor - discount_minor),
    ADD CONSTRAINT orders_discount_needs_coupon CHECK (coupon_id IS NOT NULL OR discount_minor = 0);

-- Each line carries its share of the discount (a later partial refund knows what the line cost), and lines
-- bought in a flash sale name the sale and the admission; an admission becomes at most one line.
ALTER TABLE order_lines
    ADD COLUMN discount_minor bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    ADD COLUMN flash_sale_id uuid,
    ADD COLUMN admission_id uuid,
    DROP CONSTRAINT order_lines_check,
    ADD CONSTRAINT order_lines_amount_check
        CHECK (amount_minor = unit_price_minor * quantity - discount_minor AND amount_minor >= 0);
CREATE UNIQUE INDEX order_lines_admission ON order_lines (admission_id) WHERE admission_id IS NOT NULL;
