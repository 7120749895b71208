"""Reactions to other services' events: each runs in its consumer's inbox transaction and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import CheckoutAbandoned, Event, OrderCancelled, OrderPaid
from libs.runtime import Runtime
from services.local_life.use_cases import holds
from services.local_life.use_cases.paid_orders import note_paid_order
from services.local_life.use_cases.vouchers import issue_vouchers


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Local life's durable consumers."""

    async def on_paid(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await note_paid_order(runtime, conn, event)

    async def on_paid_vouchers(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await issue_vouchers(runtime, conn, event)

    async def on_deal_holds(conn: asyncpg.Connection, event: Event) -> None:
        if isinstance(event, OrderPaid):
            await holds.commit_paid(runtime, conn, event)
        elif isinstance(event, OrderCancelled):
            await holds.release_cancelled(runtime, conn, event)
        else:
            assert isinstance(event, CheckoutAbandoned)
            await holds.release_abandoned(runtime, conn, event)

    return [
        Subscription("local_life__paid_orders", (OrderPaid.SUBJECT,), on_paid),
        Subscription("local_life__vouchers", (OrderPaid.SUBJECT,), on_paid_vouchers),
        Subscription(
            "local_life__deal_holds",
            (OrderPaid.SUBJECT, OrderCancelled.SUBJECT, CheckoutAbandoned.SUBJECT),
            on_deal_holds,
        ),
    ]
