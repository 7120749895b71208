"""Flash-sale admissions from live become orders awaiting payment: per admission a checkout of its own."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import add_events
from libs.contracts import FlashSaleAdmitted, FlashSaleOrdersPlaced
from libs.ids import derived_id
from libs.runtime import Runtime
from libs.scheduler import schedule_many
from libs.telemetry import baggage_set, capture_headers, names, tag
from services.orders import domain, store
from services.orders.adapters.counters import counters
from services.orders.domain import flash_sales

log = logging.getLogger(__name__)


async def open_admitted_orders(runtime: Runtime, conn: asyncpg.Connection, event: FlashSaleAdmitted) -> None:
    """Per admission a checkout, its order at the sale price, a payment (its intent comes at confirm), the payment
    window; the whole batch in one statement per table and one FlashSaleOrdersPlaced event.

    No stock is reserved: the sale's units were allocated in shop when the sale was made.
    """
    tag({names.ROOM_ID: event.room_id, names.MERCHANT_ID: event.merchant_id, names.SKU_ID: event.sku_id})
    admitted, refused = flash_sales.admitted_orders(event, derived_id)
    for bad in refused:
        # Live's bug, not this batch's: the other buyers still get their orders.
        log.error(
            "flash sale %s: admission %s cannot become an order (%s)",
            event.sale_id,
            bad.admission.admission_id,
            bad.reason,
        )
    now = runtime.clock.now()
    with baggage_set(**{names.ROOM_ID: event.room_id}):
        headers = capture_headers()
        # Live admitted these buyers in its own room: the rooms the lines name are verified by construction.
        new = await store.insert_checkouts(
            conn,
            [store.NewCheckout(a.plan, a.buyer_id, a.pay_by, a.admitted_at, headers, True) for a in admitted],
        )
        # Each checkout's payment window, the whole batch in one statement.
        await schedule_many(conn, domain.PAYMENT_TIMEOUT_JOB, [(c.plan.checkout_id, c.pay_by) for c in new])
        if new:
            placed = [domain.placed_order(c.plan, c.plan.orders[0], c.buyer_id, c.pay_by) for c in new]
            await add_events(
                conn,
                FlashSaleOrdersPlaced(sale_id=event.sale_id, room_id=event.room_id, orders=placed, occurred_at=now),
            )
    if new:
        counters(runtime).orders_placed.add(len(new), {names.CURRENCY: new[0].plan.currency})
    if len(new) < len(admitted):
        log.info("flash sale %s: %d admissions already had their orders", event.sale_id, len(admitted) - len(new))
