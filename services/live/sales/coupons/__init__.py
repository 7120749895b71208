"""Coupon drops of live rooms: dropped by the host or merchant, claimed by watching buyers, used at orders."""

from services.live.sales.coupons.api import ROUTES
from services.live.sales.coupons.service import snapshot

__all__ = ["ROUTES", "snapshot"]
