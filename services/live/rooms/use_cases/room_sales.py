"""Room sales: each paid order counted once in every room its lines came from, and each refund of them in every
room among its lines (`room_stats`)."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import OrderPaid, RefundSucceeded
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


async def count_refund(runtime: Runtime, conn: asyncpg.Connection, event: RefundSucceeded) -> None:
    """Count a refund once in each room among its lines, with the amount of that room's lines; the rule that counts a
    paid order for a room (the room sells for the order's merchant, in its currency) counts its refund there too."""
    merchant_id = canonical_uuid(event.merchant_id)
    amounts = domain.room_amounts(event.refund_lines) if merchant_id else {}
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
        with runtime.telemetry.tracer.start_as_current_span("live.room_refunds count", attributes=attributes):
            now = runtime.clock.now()
            counted = await store.room_sales.add_room_refund(
                conn, room_id, merchant_id, event.order_id, amount, currency, now
            )
        if not counted:
            log.info("refund %s of order %s: lines of room %s not counted", event.grant_id, event.order_id, room_id)
