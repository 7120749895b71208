"""Room sales: each paid order counted once in every room its lines came from (`room_stats`)."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import OrderPaid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.live.rooms import domain, store

log = logging.getLogger(__name__)


async def count_paid_order(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """Count a paid order once in each room its lines came from, with the amount of that room's lines."""
    merchant_id = canonical_uuid(event.merchant_id)
    amounts = domain.room_amounts(event.lines) if merchant_id else {}
    if len(amounts) == 1:
        tag({names.ROOM_ID: next(iter(amounts))})
    currency = event.currency.upper()
    for room_id, amount in amounts.items():
        attributes = {
            names.ROOM_ID: room_id,
            names.ORDER_ID: event.order_id,
            names.AMOUNT_MINOR: amount,
            names.CURRENCY: currency,
        }
        with runtime.telemetry.tracer.start_as_current_span("live.room_sales count", attributes=attributes):
            now = runtime.clock.now()
            counted = await store.room_sales.add_room_sale(conn, room_id, merchant_id, amount, currency, now)
        if not counted:
            # A room live never created, of another merchant, or in another currency: nothing to attribute.
            log.info("order %s: lines of room %s not counted", event.order_id, room_id)
