"""Reactions to other services' events."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import Event, OrderPaid


async def note_paid_order(conn: asyncpg.Connection, event: Event) -> None:
    """Record a paid order; voucher issuance for deal SKUs will hang off this."""
    assert isinstance(event, OrderPaid)
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


SUBSCRIPTIONS = [Subscription("local_life__paid_orders", (OrderPaid.SUBJECT,), note_paid_order)]
