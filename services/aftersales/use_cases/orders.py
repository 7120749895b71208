"""Keeping what aftersales knows of orders, from orders' events (each in its consumer's inbox transaction)."""

from __future__ import annotations

import asyncpg

from libs.contracts import (
    FlashSaleOrdersPlaced,
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
)
from libs.runtime import Runtime
from services.aftersales.store import orders as store


async def remember_paid_order(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """Keep who bought what, from whom and for how much: the ground a later refund or return case stands on."""
    await store.insert_paid_order(conn, event)


async def remember_shipment(runtime: Runtime, conn: asyncpg.Connection, event: OrderShipped) -> None:
    """Units the buyer now holds (or will): what a case may ask about."""
    await store.insert_shipped(conn, event)


async def remember_delivery(runtime: Runtime, conn: asyncpg.Connection, event: OrderDelivered) -> None:
    """The order was delivered: the window for opening cases runs from now."""
    await store.mark_delivered(conn, event)


async def remember_cancel(runtime: Runtime, conn: asyncpg.Connection, event: OrderCancelledAfterPayment) -> None:
    """Units cancelled before shipping (refunded by orders); a whole order's cancel takes no cases."""
    await store.insert_cancelled(conn, event)


async def remember_placed(
    runtime: Runtime, conn: asyncpg.Connection, event: OrderPlaced | FlashSaleOrdersPlaced
) -> None:
    """Orders placed (one, or a flash sale's batch): a case on one before it is paid is 409, not 404."""
    await store.insert_placed(conn, [event] if isinstance(event, OrderPlaced) else event.orders)


async def remember_unpaid_cancel(runtime: Runtime, conn: asyncpg.Connection, event: OrderCancelled) -> None:
    """An order cancelled before it was paid (its payment window closed): no case will ever open on it."""
    await store.mark_cancelled_unpaid(conn, event)
