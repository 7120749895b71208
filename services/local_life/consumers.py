"""Reactions to other services' events: each runs in its consumer's inbox transaction and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import (
    CheckoutAbandoned,
    Event,
    OrderCancelled,
    OrderPaid,
    RefundFailed,
    RefundSucceeded,
    VouchersIssued,
)
from libs.runtime import Runtime
from services.local_life.use_cases import expiry, holds, refunds
from services.local_life.use_cases.paid_orders import note_paid_order
from services.local_life.use_cases.vouchers import issue_vouchers


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Local life's durable consumers."""

    async def on_paid(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await note_paid_order(runtime, conn, event)

    async def on_paid_vouchers(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await issue_vouchers(runtime, conn, event)

    async def on_deal_holds(conn: asyncpg.Connection, event: Event) -> None:
        if isinstance(event, OrderPaid):
            await holds.commit_paid(runtime, conn, event)
        elif isinstance(event, OrderCancelled):
            await holds.release_cancelled(runtime, conn, event)
        else:
            assert isinstance(event, CheckoutAbandoned)
            await holds.release_abandoned(runtime, conn, event)

    async def on_refund_result(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, RefundSucceeded | RefundFailed)
        await refunds.apply_refund_result(runtime, conn, event)

    async def on_issued(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, VouchersIssued)
        await expiry.schedule_expiry(conn, event)

    def deal_refund(event: Event) -> bool:
        return isinstance(event, RefundSucceeded | RefundFailed) and refunds.is_deal_refund(event)

    return [
        Subscription(
            "local_life__refund_results",
            (RefundSucceeded.SUBJECT, RefundFailed.SUBJECT),
            on_refund_result,
            wants=deal_refund,
        ),
        Subscription("local_life__voucher_expiry", (VouchersIssued.SUBJECT,), on_issued),
        Subscription("local_life__paid_orders", (OrderPaid.SUBJECT,), on_paid),
        Subscription("local_life__vouchers", (OrderPaid.SUBJECT,), on_paid_vouchers),
        Subscription(
            "local_life__deal_holds",
            (OrderPaid.SUBJECT, OrderCancelled.SUBJECT, CheckoutAbandoned.SUBJECT),
            on_deal_holds,
        ),
    ]
