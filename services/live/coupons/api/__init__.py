"""HTTP API of coupon drops: drops, claims and the buyer's coupons."""

from services.live.coupons.api.coupon_drops import (
    claim_coupon,
    drop_coupons,
    end_coupon_drop,
    list_coupon_drops,
    my_coupons,
)

ROUTES = [drop_coupons, list_coupon_drops, end_coupon_drop, claim_coupon, my_coupons]
