"""Reactions to orders' events about flash-sale orders; each runs in its consumer's inbox transaction."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import Event, OrderCancelled, OrderPaid
from libs.runtime import Runtime
from services.live.flash_sales.use_cases import outcomes


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """The flash-sales area's durable consumers: paid and cancelled admissions."""

    async def on_order(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid | OrderCancelled)
        await outcomes.record_order_outcome(runtime, conn, event)

    return [Subscription("live__flash_sale_orders", (OrderPaid.SUBJECT, OrderCancelled.SUBJECT), on_order)]
