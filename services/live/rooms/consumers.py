"""Reactions to shop's, orders' and local_life's events; each runs inside its consumer's inbox transaction and calls one
use case."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import (
    DealEnded,
    DealPublished,
    Event,
    OrderPaid,
    ProductPublished,
    ProductUpdated,
    RedemptionUndone,
    RefundSucceeded,
    StockChanged,
    VoucherRedeemed,
    VouchersExpired,
    VouchersIssued,
    VouchersRefunded,
)
from libs.runtime import Runtime
from services.live.rooms.use_cases import catalogue, deals, room_sales, room_vouchers

VOUCHER_FACTS = (
    VouchersIssued.SUBJECT,
    VoucherRedeemed.SUBJECT,
    RedemptionUndone.SUBJECT,
    VouchersRefunded.SUBJECT,
    VouchersExpired.SUBJECT,
)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """The rooms area's durable consumers."""

    async def keep_product(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, ProductPublished | ProductUpdated)
        await catalogue.keep_product(runtime, conn, event)

    async def keep_stock_level(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, StockChanged)
        await catalogue.keep_stock_level(runtime, conn, event)

    async def count_paid_order(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid)
        await room_sales.count_paid_order(runtime, conn, event)

    async def count_refund(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, RefundSucceeded)
        await room_sales.count_refund(runtime, conn, event)

    async def keep_deal(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, DealPublished | DealEnded)
        await deals.keep_deal(runtime, conn, event)

    async def count_vouchers(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, room_vouchers.VoucherEvent)
        await room_vouchers.count_vouchers(runtime, conn, event)

    return [
        Subscription("live__product_catalogue", (ProductPublished.SUBJECT, ProductUpdated.SUBJECT), keep_product),
        Subscription("live__stock_levels", (StockChanged.SUBJECT,), keep_stock_level),
        Subscription("live__room_sales", (OrderPaid.SUBJECT,), count_paid_order),
        Subscription("live__room_refunds", (RefundSucceeded.SUBJECT,), count_refund),
        Subscription("live__deals", (DealPublished.SUBJECT, DealEnded.SUBJECT), keep_deal),
        Subscription("live__room_vouchers", VOUCHER_FACTS, count_vouchers),
    ]
