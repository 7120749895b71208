"""Reactions to orders' and live's events, the reservation expiry job, and the stock reserve/allocate responders."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import Subscription
from libs.contracts import (
    ALLOCATE_STOCK,
    RESERVE_STOCK,
    AllocateStock,
    AllocateStockReply,
    CheckoutAbandoned,
    Event,
    FlashSaleUnitsReturned,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ReserveStock,
    ReserveStockReply,
)
from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.shop import allocations, domain, stock

log = logging.getLogger(__name__)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Durable consumers: each event applied once, in the same transaction as its inbox row."""

    async def on_placed(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPlaced)
        await stock.attach_order(conn, event)

    async def on_paid(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await stock.commit_paid(conn, runtime.clock.now(), event)

    async def on_cancelled(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderCancelled)
        await stock.release_cancelled(conn, runtime.clock.now(), event)

    async def on_abandoned(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, CheckoutAbandoned)
        await stock.release_abandoned(conn, runtime.clock.now(), event)

    async def on_units_returned(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, FlashSaleUnitsReturned)
        await allocations.take_back(conn, event)

    def has_reserved_lines(event: Event) -> bool:
        # Flash-sale lines hold no reservation here: placing or cancelling such an order changes nothing in shop.
        assert isinstance(event, OrderPlaced | OrderCancelled)
        return bool(domain.skus_of(event.lines))

    return [
        Subscription("shop__attach_orders", (OrderPlaced.SUBJECT,), on_placed, wants=has_reserved_lines),
        Subscription("shop__commit_paid_stock", (OrderPaid.SUBJECT,), on_paid),
        Subscription(
            "shop__release_cancelled_stock", (OrderCancelled.SUBJECT,), on_cancelled, wants=has_reserved_lines
        ),
        Subscription("shop__release_abandoned_checkouts", (CheckoutAbandoned.SUBJECT,), on_abandoned),
        Subscription("shop__take_back_flash_sale_units", (FlashSaleUnitsReturned.SUBJECT,), on_units_returned),
    ]


def jobs(runtime: Runtime) -> dict[str, JobHandler]:
    """Due jobs: holds that neither payment nor cancellation settled in time."""

    async def expire(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await stock.expire(conn, runtime.clock.now(), key)

    return {stock.EXPIRY_JOB: expire}


_UNAVAILABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def serve_stock(runtime: Runtime) -> None:
    """Answer the reserve and allocate RPCs; every shop instance joins queue group `shop`."""

    async def answer(request: ReserveStock) -> ReserveStockReply:
        try:
            return await stock.reserve(runtime.db, runtime.clock, request)
        except _UNAVAILABLE:
            # Say so at once rather than let checkout wait out its timeout; a retry with the same
            # checkout id is safe (nothing was held, or the stored reservation is answered again).
            log.exception("reserving stock for checkout %s failed", request.checkout_id)
            return ReserveStockReply(ok=False, error="unavailable", detail="stock could not be reserved now; retry")

    async def allocate(request: AllocateStock) -> AllocateStockReply:
        try:
            return await allocations.allocate(runtime.db, runtime.clock, request)
        except _UNAVAILABLE:
            # As for reservations: a retry with the same allocation id is safe.
            log.exception("allocating stock for sale %s failed", request.allocation_id)
            return AllocateStockReply(ok=False, error="unavailable", detail="stock could not be allocated now; retry")

    await runtime.bus.serve(RESERVE_STOCK, ReserveStock, answer, queue="shop")
    await runtime.bus.serve(ALLOCATE_STOCK, AllocateStock, allocate, queue="shop")
