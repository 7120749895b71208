"""Reactions to other services' events: each runs in its consumer's inbox transaction and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import (
    DealRefundRequested,
    Event,
    FlashSaleOrdersPlaced,
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    RedemptionUndone,
    RefundFailed,
    RefundSucceeded,
    VoucherRedeemed,
    VouchersIssued,
)
from libs.runtime import Runtime
from services.aftersales.use_cases import moves, orders


def _of_a_case(event: Event) -> bool:
    # A refund without a case is a cancel's (orders' own): nothing of aftersales'.
    return isinstance(event, RefundSucceeded | RefundFailed) and event.case_id is not None


def _of_local_life(event: Event) -> bool:
    # local_life's refunds have no case and are of an order with deal lines (a refused one names no refund line).
    return isinstance(event, RefundFailed) and event.case_id is None and any(line.deal_id for line in event.lines)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """After-sales' durable consumers."""

    async def on_paid(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await orders.remember_paid_order(runtime, conn, event)

    async def on_shipped(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderShipped)
        await orders.remember_shipment(runtime, conn, event)

    async def on_delivered(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderDelivered)
        await orders.remember_delivery(runtime, conn, event)

    async def on_cancelled(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderCancelledAfterPayment)
        await orders.remember_cancel(runtime, conn, event)

    async def on_vouchers_issued(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, VouchersIssued)
        await orders.remember_vouchers_issued(runtime, conn, event)

    async def on_redemption(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, VoucherRedeemed | RedemptionUndone)
        await orders.remember_redemption(runtime, conn, event)

    async def on_local_refund(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, DealRefundRequested)
        await orders.remember_local_refund(runtime, conn, event)

    async def on_local_refund_failed(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, RefundFailed)
        await orders.remember_local_refund_failed(runtime, conn, event)

    async def on_placed(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPlaced | FlashSaleOrdersPlaced)
        await orders.remember_placed(runtime, conn, event)

    async def on_unpaid_cancel(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderCancelled)
        await orders.remember_unpaid_cancel(runtime, conn, event)

    async def on_refund_result(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, RefundSucceeded | RefundFailed)
        await moves.refund_settled(runtime, conn, event)

    return [
        Subscription("aftersales__paid_orders", (OrderPaid.SUBJECT,), on_paid),
        Subscription("aftersales__shipments", (OrderShipped.SUBJECT,), on_shipped),
        Subscription("aftersales__deliveries", (OrderDelivered.SUBJECT,), on_delivered),
        Subscription("aftersales__cancellations", (OrderCancelledAfterPayment.SUBJECT,), on_cancelled),
        Subscription("aftersales__vouchers_issued", (VouchersIssued.SUBJECT,), on_vouchers_issued),
        Subscription(
            "aftersales__voucher_redemptions", (VoucherRedeemed.SUBJECT, RedemptionUndone.SUBJECT), on_redemption
        ),
        Subscription("aftersales__local_refunds", (DealRefundRequested.SUBJECT,), on_local_refund),
        Subscription(
            "aftersales__local_refund_failures", (RefundFailed.SUBJECT,), on_local_refund_failed, wants=_of_local_life
        ),
        Subscription("aftersales__placed_orders", (OrderPlaced.SUBJECT, FlashSaleOrdersPlaced.SUBJECT), on_placed),
        Subscription("aftersales__unpaid_cancellations", (OrderCancelled.SUBJECT,), on_unpaid_cancel),
        Subscription(
            "aftersales__refund_results",
            (RefundSucceeded.SUBJECT, RefundFailed.SUBJECT),
            on_refund_result,
            wants=_of_a_case,
        ),
    ]
