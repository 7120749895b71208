"""Coupons claimed in live rooms, kept for the buyer's checkouts (using them is part of placing a checkout)."""

from __future__ import annotations

import asyncpg

from libs.contracts import CouponClaimed
from libs.runtime import Runtime
from services.orders import store
from services.orders.domain import coupons as coupon_rules


async def keep_coupon(runtime: Runtime, conn: asyncpg.Connection, event: CouponClaimed) -> None:
    """Keep a claimed coupon for the buyer's checkouts (a claim with unusable terms is refused: dead letters)."""
    coupon = coupon_rules.coupon_from_claim(event)
    await store.keep_claimed(conn, coupon, drop_id=event.drop_id, room_id=event.room_id, claimed_at=event.occurred_at)
