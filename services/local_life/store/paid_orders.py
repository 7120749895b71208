"""SQL for paid orders as local_life learns them from orders' events."""

from __future__ import annotations

import asyncpg

from libs.contracts import OrderPaid


async def insert_paid_order(conn: asyncpg.Connection, event: OrderPaid) -> None:
    """A paid order and its SKUs, once (a replay of the same order changes nothing)."""
    await conn.execute(
        """INSERT INTO paid_orders (order_id, buyer_id, merchant_id, amount_minor, currency, sku_ids, paid_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING""",
        event.order_id,
        event.buyer_id,
        event.merchant_id,
        event.amount_minor,
        event.currency,
        [line.sku_id for line in event.lines],
        event.paid_at,
    )
