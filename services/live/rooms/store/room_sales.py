"""SQL for room sales: the paid orders and amount, and the refunds of them, counted for a room (`room_stats`)."""

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


async def add_room_refund(
    conn: asyncpg.Connection,
    room_id: str,
    merchant_id: str,
    order_id: str,
    amount_minor: int,
    currency: str,
    now: datetime,
) -> bool:
    """Count one refund for a room of `merchant_id` (by the rule its sales are counted by), and its order once among
    the refunded orders; False if no such room (or another currency)."""
    counted = await conn.fetchval(
        """UPDATE room_stats s
           SET refunds = s.refunds + 1, refunded_amount_minor = s.refunded_amount_minor + $3,
               currency = $4, updated_at = $5
           FROM rooms r
           WHERE s.room_id = $1 AND r.room_id = s.room_id AND r.merchant_id = $2
             AND (s.currency IS NULL OR s.currency = $4)
           RETURNING true""",
        room_id,
        merchant_id,
        amount_minor,
        currency,
        now,
    )
    if not counted:
        return False
    # A second refund of the order (a cancel, then a case) finds its row: the order counts once.
    await conn.execute(
        """WITH first AS (
               INSERT INTO room_refunded_orders (room_id, order_id) VALUES ($1, $2)
               ON CONFLICT DO NOTHING RETURNING room_id)
           UPDATE room_stats SET refunded_orders = refunded_orders + 1 WHERE room_id IN (SELECT room_id FROM first)""",
        room_id,
        order_id,
    )
    return True


async def room_sales(conn: asyncpg.Connection, room_id: str) -> asyncpg.Record:
    """Paid orders and amount, refunds, refunded orders and amount, and the currency of the room."""
    return await conn.fetchrow(
        """SELECT paid_orders, paid_amount_minor, refunds, refunded_orders, refunded_amount_minor, currency
             FROM room_stats WHERE room_id = $1""",
        room_id,
    )
