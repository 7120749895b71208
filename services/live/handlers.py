"""Reactions to shop's and orders' events; each runs inside its consumer's inbox transaction."""

from __future__ import annotations

import logging

import asyncpg
from opentelemetry import trace

from libs.bus import Subscription
from libs.bus.consumer import Handler
from libs.contracts import Event, OrderPaid, ProductPublished, ProductUpdated, StockChanged
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names
from services.live import domain, store

log = logging.getLogger(__name__)


async def keep_product(conn: asyncpg.Connection, event: Event) -> None:
    """Replicate a published or updated product; its stock snapshot seeds SKUs live has no level for."""
    assert isinstance(event, ProductPublished | ProductUpdated)
    applied = await store.upsert_product(conn, event)
    if not applied:
        log.info("product %s version %d is older than live's copy; ignored", event.product_id, event.version)
    await store.seed_stock(conn, event)


async def keep_stock_level(conn: asyncpg.Connection, event: Event) -> None:
    """Replicate a SKU's available stock, unless a newer observation is already here."""
    assert isinstance(event, StockChanged)
    await store.upsert_stock(conn, event)


def room_sales(runtime: Runtime) -> Handler:
    """Handler counting a paid order once in each room its lines came from."""
    tracer = runtime.telemetry.tracer

    async def count_paid_order(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        merchant_id = canonical_uuid(event.merchant_id)
        amounts = domain.room_amounts(event.lines) if merchant_id else {}
        if len(amounts) == 1:
            trace.get_current_span().set_attribute(names.ROOM_ID, next(iter(amounts)))
        currency = event.currency.upper()
        for room_id, amount in amounts.items():
            attributes = {
                names.ROOM_ID: room_id,
                names.ORDER_ID: event.order_id,
                names.AMOUNT_MINOR: amount,
                names.CURRENCY: currency,
            }
            with tracer.start_as_current_span("live.room_sales count", attributes=attributes):
                counted = await store.add_room_sale(conn, room_id, merchant_id, amount, currency, runtime.clock.now())
            if not counted:
                # A room live never created, of another merchant, or in another currency: nothing to attribute.
                log.info("order %s: lines of room %s not counted", event.order_id, room_id)

    return count_paid_order


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Live's durable consumers."""
    return [
        Subscription("live__product_catalogue", (ProductPublished.SUBJECT, ProductUpdated.SUBJECT), keep_product),
        Subscription("live__stock_levels", (StockChanged.SUBJECT,), keep_stock_level),
        Subscription("live__room_sales", (OrderPaid.SUBJECT,), room_sales(runtime)),
    ]
