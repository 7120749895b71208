"""Reactions to other services' events."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import Event, OrderPaid


async def remember_paid_order(conn: asyncpg.Connection, event: Event) -> None:
    """Keep the facts of a paid order: the ground a later refund or return case stands on."""
    assert isinstance(event, OrderPaid)
    await conn.execute(
        """INSERT INTO paid_orders (order_id, buyer_id, merchant_id, amount_minor, currency, lines, paid_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING""",
        event.order_id,
        event.buyer_id,
        event.merchant_id,
        event.amount_minor,
        event.currency,
        event.lines,
        event.paid_at,
    )


SUBSCRIPTIONS = [Subscription("aftersales__paid_orders", (OrderPaid.SUBJECT,), remember_paid_order)]
