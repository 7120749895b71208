"""Reactions to other services' events: each runs in its consumer's inbox transaction and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import Event, OrderPaid
from libs.runtime import Runtime
from services.aftersales.use_cases import remember_paid_order


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """After-sales' durable consumers."""

    async def on_paid(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await remember_paid_order(runtime, conn, event)

    return [Subscription("aftersales__paid_orders", (OrderPaid.SUBJECT,), on_paid)]
