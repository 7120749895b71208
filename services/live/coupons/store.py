"""SQL for coupon drops and claimed coupons (live schema)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.live.coupons.domain import CouponTerms
from services.live.coupons.views import CouponDrop, MyCoupon

_DROP_COLUMNS = """drop_id, room_id, merchant_id, kind, amount_off_minor, percent_off, currency, min_spend_minor,
                   per_buyer_limit, total, claimed, valid_until, status, created_at"""


def drop_view(row: asyncpg.Record) -> CouponDrop:
    return CouponDrop(
        drop_id=str(row["drop_id"]),
        room_id=str(row["room_id"]),
        kind=row["kind"],
        amount_off_minor=row["amount_off_minor"],
        percent_off=row["percent_off"],
        currency=row["currency"],
        min_spend_minor=row["min_spend_minor"],
        per_buyer_limit=row["per_buyer_limit"],
        total=row["total"],
        claimed=row["claimed"],
        remaining=row["total"] - row["claimed"],
        valid_until=row["valid_until"],
        status=row["status"],
        created_at=row["created_at"],
    )


def terms_of(row: asyncpg.Record) -> CouponTerms:
    return CouponTerms(
        kind=row["kind"],
        amount_off_minor=row["amount_off_minor"],
        percent_off=row["percent_off"],
        currency=row["currency"],
        min_spend_minor=row["min_spend_minor"],
        valid_until=row["valid_until"],
    )


async def insert_drop(
    conn: asyncpg.Connection,
    *,
    drop_id: str,
    room_id: str,
    merchant_id: str,
    created_by: str,
    terms: CouponTerms,
    per_buyer_limit: int,
    total: int,
    now: datetime,
) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""INSERT INTO coupon_drops (drop_id, room_id, merchant_id, created_by, kind, amount_off_minor, percent_off,
                                      currency, min_spend_minor, per_buyer_limit, total, valid_until, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            RETURNING {_DROP_COLUMNS}""",  # noqa: S608 - a fixed column list
        drop_id,
        room_id,
        merchant_id,
        created_by,
        terms.kind,
        terms.amount_off_minor,
        terms.percent_off,
        terms.currency,
        terms.min_spend_minor,
        per_buyer_limit,
        total,
        terms.valid_until,
        now,
    )


async def fetch_drop(conn: asyncpg.Connection, room_id: str, drop_id: str, *, lock: bool = False) -> asyncpg.Record:
    """The drop if it belongs to this room; locked, every claim on it waits for the one before to commit."""
    sql = f"SELECT {_DROP_COLUMNS} FROM coupon_drops WHERE drop_id = $1 AND room_id = $2"  # noqa: S608
    return await conn.fetchrow(sql + " FOR NO KEY UPDATE" if lock else sql, drop_id, room_id)


async def open_drops(conn: asyncpg.Connection, room_id: str, now: datetime) -> list[CouponDrop]:
    """The room's drops that are neither ended nor expired (claimed-out ones too: viewers see "all gone")."""
    rows = await conn.fetch(
        f"""SELECT {_DROP_COLUMNS} FROM coupon_drops
            WHERE room_id = $1 AND status = 'open' AND valid_until > $2 ORDER BY created_at, drop_id""",  # noqa: S608
        room_id,
        now,
    )
    return [drop_view(r) for r in rows]


async def count_claims(conn: asyncpg.Connection, drop_id: str, buyer_id: str) -> int:
    """How many coupons of the drop the buyer holds (exact only under the drop's row lock)."""
    return await conn.fetchval("SELECT count(*) FROM coupons WHERE drop_id = $1 AND buyer_id = $2", drop_id, buyer_id)


async def take_one(conn: asyncpg.Connection, drop_id: str) -> int | None:
    """One more coupon claimed from the drop; the new claimed count, or None if none was left."""
    return await conn.fetchval(
        "UPDATE coupon_drops SET claimed = claimed + 1 WHERE drop_id = $1 AND claimed < total RETURNING claimed",
        drop_id,
    )


async def insert_coupon(
    conn: asyncpg.Connection, *, coupon_id: str, drop_id: str, buyer_id: str, slot: int, claimed_at: datetime
) -> bool:
    """The buyer's `slot`-th coupon of the drop; False if that slot is taken or beyond the drop's per-buyer limit."""
    inserted = await conn.fetchval(
        """INSERT INTO coupons (coupon_id, drop_id, buyer_id, slot, claimed_at)
           SELECT $1, $2, $3, $4, $5 FROM coupon_drops WHERE drop_id = $2 AND per_buyer_limit >= $4
           ON CONFLICT (drop_id, buyer_id, slot) DO NOTHING
           RETURNING true""",
        coupon_id,
        drop_id,
        buyer_id,
        slot,
        claimed_at,
    )
    return bool(inserted)


async def end_drop(conn: asyncpg.Connection, drop_id: str, now: datetime) -> asyncpg.Record | None:
    """Close an open drop; None if it was already ended."""
    return await conn.fetchrow(
        f"""UPDATE coupon_drops SET status = 'ended', ended_at = $2 WHERE drop_id = $1 AND status = 'open'
            RETURNING {_DROP_COLUMNS}""",  # noqa: S608
        drop_id,
        now,
    )


async def buyer_coupons(
    conn: asyncpg.Connection, buyer_id: str, *, limit: int, after: tuple[datetime, str] | None
) -> list[MyCoupon]:
    """The buyer's claimed coupons, newest first, starting after the cursor's position."""
    rows = await conn.fetch(
        """SELECT c.coupon_id, c.drop_id, c.claimed_at, d.room_id, d.merchant_id, d.kind, d.amount_off_minor,
                  d.percent_off, d.currency, d.min_spend_minor, d.valid_until
           FROM coupons c JOIN coupon_drops d ON d.drop_id = c.drop_id
           WHERE c.buyer_id = $1
             AND ($2::timestamptz IS NULL OR (c.claimed_at, c.coupon_id) < ($2::timestamptz, $3::uuid))
           ORDER BY c.claimed_at DESC, c.coupon_id DESC
           LIMIT $4""",
        buyer_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        MyCoupon(
            coupon_id=str(r["coupon_id"]),
            drop_id=str(r["drop_id"]),
            room_id=str(r["room_id"]),
            merchant_id=str(r["merchant_id"]),
            kind=r["kind"],
            amount_off_minor=r["amount_off_minor"],
            percent_off=r["percent_off"],
            currency=r["currency"],
            min_spend_minor=r["min_spend_minor"],
            valid_until=r["valid_until"],
            claimed_at=r["claimed_at"],
        )
        for r in rows
    ]
