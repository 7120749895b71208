"""Reactions to live's events: flash-sale admissions become orders awaiting payment; claimed coupons are kept."""

from __future__ import annotations

import logging

import asyncpg
from opentelemetry import trace

from libs.bus import Subscription, add_events
from libs.contracts import CouponClaimed, Event, FlashSaleAdmitted, FlashSaleOrdersPlaced
from libs.ids import derived_id
from libs.runtime import Runtime
from libs.telemetry import baggage_set, capture_headers, names
from services.orders import context, domain, store
from services.orders.domain import coupons as coupon_rules
from services.orders.domain import flash_sales

log = logging.getLogger(__name__)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Durable consumers: each event applied once, in the same transaction as its inbox row."""

    async def flash_sale_orders(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, FlashSaleAdmitted)
        await open_admitted_orders(runtime, conn, event)

    async def claimed_coupons(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, CouponClaimed)
        await keep_coupon(conn, event)

    return [
        Subscription("orders__flash_sale_orders", (FlashSaleAdmitted.SUBJECT,), flash_sale_orders),
        Subscription("orders__claimed_coupons", (CouponClaimed.SUBJECT,), claimed_coupons),
    ]


async def open_admitted_orders(runtime: Runtime, conn: asyncpg.Connection, event: FlashSaleAdmitted) -> None:
    """Per admission a checkout, its order at the sale price, a payment (its intent comes at confirm), the payment
    window; the whole batch in one statement per table and one FlashSaleOrdersPlaced event.

    No stock is reserved: the sale's units were allocated in shop when the sale was made.
    """
    span = trace.get_current_span()
    span.set_attribute(names.ROOM_ID, event.room_id)
    span.set_attribute(names.MERCHANT_ID, event.merchant_id)
    span.set_attribute(names.SKU_ID, event.sku_id)
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
        new = await store.insert_checkouts(
            conn, [store.NewCheckout(a.plan, a.buyer_id, a.pay_by, a.admitted_at, headers) for a in admitted]
        )
        await store.schedule_payment_windows(conn, new)
        if new:
            placed = [domain.placed_order(c.plan, c.plan.orders[0], c.buyer_id, c.pay_by) for c in new]
            await add_events(
                conn,
                FlashSaleOrdersPlaced(sale_id=event.sale_id, room_id=event.room_id, orders=placed, occurred_at=now),
            )
    if new:
        context.instruments(runtime).orders_placed.add(len(new), {names.CURRENCY: new[0].plan.currency})
    if len(new) < len(admitted):
        log.info("flash sale %s: %d admissions already had their orders", event.sale_id, len(admitted) - len(new))


async def keep_coupon(conn: asyncpg.Connection, event: CouponClaimed) -> None:
    """Keep a claimed coupon for the buyer's checkouts (a claim with unusable terms is refused: dead letters)."""
    coupon = coupon_rules.coupon_from_claim(event)
    await store.keep_claimed(conn, coupon, drop_id=event.drop_id, room_id=event.room_id, claimed_at=event.occurred_at)
