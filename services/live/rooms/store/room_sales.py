"""SQL for room sales: the paid orders and amount counted for a room (`room_stats`)."""

from __future__ import annotations

from datetime import datetime

import asyncpg


async def add_room_sale(
    conn: asyncpg.Connection, room_id: str, merchant_id: str, amount_minor: int, currency: str, now: datetime
) -> bool:
    """Count one paid order for a room of `merchant_id`; False if no such room (or another currency)."""
    status = await conn.execute(
        """UPDATE room_stats s
           SET paid_orders = s.paid_orders + 1, paid_amount_minor = s.paid_amount_minor + $3,
               currency = $4, updated_at = $5
           FROM rooms r
           WHERE s.room_id = $1 AND r.room_id = s.room_id AND r.merchant_id = $2
             AND (s.currency IS NULL OR s.currency = $4)""",
        room_id,
        merchant_id,
        amount_minor,
        currency,
        now,
    )
    return status != "UPDATE 0"


async def room_sales(conn: asyncpg.Connection, room_id: str) -> asyncpg.Record:
    """(paid_orders, paid_amount_minor, currency) of the room."""
    return await conn.fetchrow(
        "SELECT paid_orders, paid_amount_minor, currency FROM room_stats WHERE room_id = $1", room_id
    )
