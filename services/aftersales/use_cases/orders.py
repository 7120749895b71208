"""Keeping what aftersales knows of orders, from orders' events (each in its consumer's inbox transaction)."""

from __future__ import annotations

import logging

import asyncpg

from libs.contracts import (
    DealRefundRequested,
    FlashSaleOrdersPlaced,
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    RedemptionUndone,
    RefundFailed,
    VoucherRedeemed,
    VouchersIssued,
)
from libs.ids import is_uuid
from libs.runtime import Runtime
from services.aftersales.store import orders as store

log = logging.getLogger(__name__)


async def remember_paid_order(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """Keep who bought what, from whom and for how much: the ground a later refund or return case stands on."""
    await store.insert_paid_order(conn, event)


async def remember_shipment(runtime: Runtime, conn: asyncpg.Connection, event: OrderShipped) -> None:
    """Units the buyer now holds (or will): what a case may ask about."""
    await store.insert_shipped(conn, event)


async def remember_vouchers_issued(runtime: Runtime, conn: asyncpg.Connection, event: VouchersIssued) -> None:
    """A deal line's vouchers exist: its case window runs from their last day of validity."""
    source = event.source
    if not (is_uuid(source.order_id) and is_uuid(event.deal_id)) or source.line_no < 0 or not event.vouchers:
        log.warning(
            "vouchers issued for order %s line %d: not a line aftersales can keep", source.order_id, source.line_no
        )
        return
    await store.insert_vouchers_issued(conn, event)


async def remember_redemption(
    runtime: Runtime, conn: asyncpg.Connection, event: VoucherRedeemed | RedemptionUndone
) -> None:
    """A deal line's voucher was redeemed (a refund_only case may now cover its unit), or its redemption undone."""
    source = event.source
    ids = (source.order_id, event.deal_id, event.redemption_id, event.voucher_id)
    if not all(is_uuid(i) for i in ids) or source.line_no < 0:
        log.warning("redemption %s of order %s: not a line aftersales can keep", event.redemption_id, source.order_id)
        return
    if isinstance(event, VoucherRedeemed):
        await store.insert_redeemed(conn, event)
    else:
        await store.mark_redemption_undone(conn, event)


async def remember_local_refund(runtime: Runtime, conn: asyncpg.Connection, event: DealRefundRequested) -> None:
    """Units of deal lines local_life refunds (unused vouchers, a team that did not fill): never open to a case."""
    if not all(is_uuid(i) for i in (event.grant_id, event.order_id, event.deal_id)) or any(
        u.line_no < 0 for u in event.lines
    ):
        log.warning("local_life refund %s of order %s: not one aftersales can keep", event.grant_id, event.order_id)
        return
    await store.insert_local_refund(conn, event)


async def remember_local_refund_failed(runtime: Runtime, conn: asyncpg.Connection, event: RefundFailed) -> None:
    """A refund local_life asked for was not paid: its units are the buyer's vouchers again (and may be redeemed)."""
    await store.mark_local_refund_failed(conn, event)


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
