"""SQL for coupons claimed in live rooms: kept once, used once (conditional update), given back if unpaid."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.orders.domain.coupons import Coupon, CouponStatus
from services.orders.store.checkouts import Conn

_COUPON_SELECT = """
SELECT coupon_id::text, buyer_id, merchant_id::text, kind, currency, valid_until, amount_off_minor, percent_off,
       min_spend_minor, status
FROM coupons
"""


def _coupon(row: asyncpg.Record) -> Coupon:
    return Coupon(**dict(row))


async def keep_claimed(
    conn: asyncpg.Connection, coupon: Coupon, *, drop_id: str, room_id: str, claimed_at: datetime
) -> bool:
    """Remember a claimed coupon as available; False if it is already kept (a redelivered claim changes nothing)."""
    return bool(
        await conn.fetchval(
            """INSERT INTO coupons (coupon_id, buyer_id, merchant_id, drop_id, room_id, kind, amount_off_minor,
                                    percent_off, currency, min_spend_minor, valid_until, status, claimed_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
               ON CONFLICT (coupon_id) DO NOTHING RETURNING true""",
            coupon.coupon_id,
            coupon.buyer_id,
            coupon.merchant_id,
            drop_id,
            room_id,
            coupon.kind,
            coupon.amount_off_minor,
            coupon.percent_off,
            coupon.currency,
            coupon.min_spend_minor,
            coupon.valid_until,
            CouponStatus.AVAILABLE,
            claimed_at,
        )
    )


async def buyers_coupons(db: Conn, buyer_id: str, coupon_ids: Sequence[str]) -> dict[str, Coupon]:
    """The named coupons that belong to this buyer (anyone else's are simply not found)."""
    if not coupon_ids:
        return {}
    rows = await db.fetch(
        f"{_COUPON_SELECT} WHERE coupon_id = ANY($1::uuid[]) AND buyer_id = $2",
        list(coupon_ids),
        buyer_id,
    )
    return {row["coupon_id"]: _coupon(row) for row in rows}


async def use_coupons(
    conn: asyncpg.Connection, buyer_id: str, uses: Sequence[tuple[str, str]], now: datetime
) -> set[str]:
    """Mark (coupon, order) pairs used, each only if still available and valid; returns the coupons that moved.

    The row lock of the update makes a concurrent checkout with the same coupon wait, then find it used.
    """
    if not uses:
        return set()
    rows = await conn.fetch(
        """UPDATE coupons c SET status = $1, order_id = u.order_id, used_at = $5
           FROM unnest($3::uuid[], $4::uuid[]) AS u(coupon_id, order_id)
           WHERE c.coupon_id = u.coupon_id AND c.buyer_id = $2 AND c.status = $6 AND c.valid_until > $5
           RETURNING c.coupon_id::text""",
        CouponStatus.USED,
        buyer_id,
        [coupon_id for coupon_id, _ in uses],
        [order_id for _, order_id in uses],
        now,
        CouponStatus.AVAILABLE,
    )
    return {row["coupon_id"] for row in rows}


async def give_back_coupons(conn: asyncpg.Connection, order_ids: Sequence[str], now: datetime) -> int:
    """Coupons of orders cancelled unpaid become available again, if they are still valid."""
    if not order_ids:
        return 0
    rows = await conn.fetch(
        """UPDATE coupons SET status = $2, order_id = NULL, used_at = NULL
           WHERE order_id = ANY($1::uuid[]) AND status = $3 AND valid_until > $4 RETURNING coupon_id""",
        list(order_ids),
        CouponStatus.AVAILABLE,
        CouponStatus.USED,
        now,
    )
    return len(rows)
