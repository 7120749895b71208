"""What the coupon-drops API answers with: drops with what is left, a claimed coupon, the buyer's coupons."""

from __future__ import annotations

from datetime import datetime

import msgspec


class CouponDrop(msgspec.Struct, kw_only=True):
    """A coupon drop as viewers see it: its offer and how many are left."""

    drop_id: str
    room_id: str
    kind: str
    amount_off_minor: int
    percent_off: int
    currency: str
    min_spend_minor: int
    per_buyer_limit: int
    total: int
    claimed: int
    remaining: int
    valid_until: datetime
    status: str
    created_at: datetime


class CouponDropList(msgspec.Struct, kw_only=True):
    items: list[CouponDrop]


class Coupon(msgspec.Struct, kw_only=True):
    """One claimed coupon: the answer to a claim."""

    coupon_id: str
    drop_id: str
    kind: str
    amount_off_minor: int
    percent_off: int
    currency: str
    min_spend_minor: int
    valid_until: datetime


class MyCoupon(Coupon, kw_only=True):
    """A claimed coupon in the buyer's list ("my coupons"); orders knows whether it was used since."""

    room_id: str
    merchant_id: str
    claimed_at: datetime


class MyCoupons(msgspec.Struct, kw_only=True):
    items: list[MyCoupon]
    next_cursor: str | None = None
