"""Reactions to orders' and live's events: each runs in its consumer's inbox transaction and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import (
    CheckoutAbandoned,
    Event,
    FlashSaleUnitsReturned,
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderPaid,
    OrderPlaced,
    ReturnReceived,
)
from libs.runtime import Runtime
from services.shop.domain.reservations import skus_of
from services.shop.use_cases import allocations, restocks, stock


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Durable consumers: each event applied once, in the same transaction as its inbox row."""

    async def on_placed(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPlaced)
        await stock.attach_order(runtime, conn, event)

    async def on_paid(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await stock.commit_paid(runtime, conn, event)

    async def on_cancelled(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderCancelled)
        await stock.release_cancelled(runtime, conn, event)

    async def on_abandoned(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, CheckoutAbandoned)
        await stock.release_abandoned(runtime, conn, event)

    async def on_units_returned(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, FlashSaleUnitsReturned)
        await allocations.take_back(runtime, conn, event)

    async def on_cancelled_after_payment(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderCancelledAfterPayment)
        await restocks.put_back_cancelled(runtime, conn, event)

    async def on_return_received(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, ReturnReceived)
        await restocks.put_back_returned(runtime, conn, event)

    def has_reserved_lines(event: Event) -> bool:
        # Flash-sale lines hold no reservation here: placing or cancelling such an order changes nothing in shop.
        assert isinstance(event, OrderPlaced | OrderCancelled)
        return bool(skus_of(event.lines))

    return [
        Subscription("shop__attach_orders", (OrderPlaced.SUBJECT,), on_placed, wants=has_reserved_lines),
        Subscription("shop__commit_paid_stock", (OrderPaid.SUBJECT,), on_paid),
        Subscription(
            "shop__release_cancelled_stock", (OrderCancelled.SUBJECT,), on_cancelled, wants=has_reserved_lines
        ),
        Subscription("shop__release_abandoned_checkouts", (CheckoutAbandoned.SUBJECT,), on_abandoned),
        Subscription("shop__take_back_flash_sale_units", (FlashSaleUnitsReturned.SUBJECT,), on_units_returned),
        Subscription("shop__cancelled_paid_orders", (OrderCancelledAfterPayment.SUBJECT,), on_cancelled_after_payment),
        Subscription("shop__returns", (ReturnReceived.SUBJECT,), on_return_received),
    ]
