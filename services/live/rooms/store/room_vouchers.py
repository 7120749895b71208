"""SQL for the vouchers counted for a room (`room_stats.vouchers_*`): each fact once, by its own row."""

from __future__ import annotations

from datetime import datetime

import asyncpg

# The counter each voucher fact adds to (fixed names: never from an event).
_COUNTERS = {"sold": "vouchers_sold", "refunded": "vouchers_refunded", "expired": "vouchers_expired"}


async def sells_for(conn: asyncpg.Connection, room_id: str, merchant_id: str) -> bool:
    """The room exists and sells for this merchant (the rule room sales are counted by)."""
    return bool(
        await conn.fetchval("SELECT true FROM rooms WHERE room_id = $1 AND merchant_id = $2", room_id, merchant_id)
    )


async def add_voucher_facts(
    conn: asyncpg.Connection, room_id: str, kind: str, voucher_ids: list[str], now: datetime
) -> int:
    """Count `kind` (sold, refunded, expired) once per voucher for the room; how many were new."""
    column = _COUNTERS[kind]
    counted = await conn.fetchval(
        # `column` comes from _COUNTERS above, never from the caller.
        f"""WITH fresh AS (
                INSERT INTO room_voucher_facts (voucher_id, kind, room_id)
                SELECT DISTINCT v, $2, $1::uuid FROM unnest($3::text[]) AS v
                ON CONFLICT DO NOTHING RETURNING 1)
            UPDATE room_stats SET {column} = {column} + (SELECT count(*) FROM fresh), updated_at = $4
            WHERE room_id = $1
            RETURNING (SELECT count(*) FROM fresh)""",  # noqa: S608
        room_id,
        kind,
        voucher_ids,
        now,
    )
    return counted or 0


async def add_redemption(conn: asyncpg.Connection, room_id: str, redemption_id: str, now: datetime) -> bool:
    """Count a redemption for the room unless its row is here (counted already, or undone before it arrived)."""
    counted = await conn.fetchval(
        """WITH fresh AS (
               INSERT INTO room_redemptions (redemption_id, room_id, undone) VALUES ($2, $1, false)
               ON CONFLICT DO NOTHING RETURNING room_id)
           UPDATE room_stats SET vouchers_redeemed = vouchers_redeemed + 1, updated_at = $3
           WHERE room_id IN (SELECT room_id FROM fresh)
           RETURNING true""",
        room_id,
        redemption_id,
        now,
    )
    return bool(counted)


async def undo_redemption(conn: asyncpg.Connection, room_id: str, redemption_id: str, now: datetime) -> bool:
    """Take back a counted redemption once; True if the count went down."""
    # The row first: an undo ahead of its redemption leaves it undone, so the redemption counts nothing when it
    # comes. A redemption being counted concurrently makes this insert wait for it and find its row.
    if await conn.fetchval(
        """INSERT INTO room_redemptions (redemption_id, room_id, undone) VALUES ($2, $1, true)
           ON CONFLICT DO NOTHING RETURNING true""",
        room_id,
        redemption_id,
    ):
        return False
    counted_in = await conn.fetchval(
        "UPDATE room_redemptions SET undone = true WHERE redemption_id = $1 AND NOT undone RETURNING room_id",
        redemption_id,
    )
    if counted_in is None:
        return False
    await conn.execute(
        "UPDATE room_stats SET vouchers_redeemed = vouchers_redeemed - 1, updated_at = $2 WHERE room_id = $1",
        counted_in,
        now,
    )
    return True


async def room_vouchers(conn: asyncpg.Connection, room_id: str) -> asyncpg.Record:
    """Vouchers sold, redeemed, refunded and expired counted for the room."""
    return await conn.fetchrow(
        """SELECT vouchers_sold, vouchers_redeemed, vouchers_refunded, vouchers_expired
             FROM room_stats WHERE room_id = $1""",
        room_id,
    )
