"""Reactions to other services' events, each in its consumer's inbox transaction: flash-sale admissions become orders
awaiting payment; claimed coupons are kept; cases hold completion; granted refunds and returns reach the ledger;
local_life's vouchers issued count as shipped and its refund requests become grants."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import (
    CaseClosed,
    CaseOpened,
    CouponClaimed,
    DealRefundRequested,
    Event,
    FlashSaleAdmitted,
    RefundGranted,
    ReturnReceived,
    VouchersIssued,
)
from libs.runtime import Runtime
from services.orders.use_cases.coupons import keep_coupon
from services.orders.use_cases.deals import count_vouchers_issued, refund_deal_units
from services.orders.use_cases.flash_sales import open_admitted_orders
from services.orders.use_cases.fulfilment import case_closed, case_opened
from services.orders.use_cases.grants import count_return, grant_refund


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Durable consumers: each event applied once, in the same transaction as its inbox row."""

    async def flash_sale_orders(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, FlashSaleAdmitted)
        await open_admitted_orders(runtime, conn, event)

    async def claimed_coupons(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, CouponClaimed)
        await keep_coupon(runtime, conn, event)

    async def refund_grants(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, RefundGranted)
        await grant_refund(runtime, conn, event)

    async def returns(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, ReturnReceived)
        await count_return(runtime, conn, event)

    async def vouchers_issued(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, VouchersIssued)
        await count_vouchers_issued(runtime, conn, event)

    async def deal_refunds(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, DealRefundRequested)
        await refund_deal_units(runtime, conn, event)

    async def case_holds(conn: asyncpg.Connection, event: Event) -> None:
        if isinstance(event, CaseOpened):
            await case_opened(runtime, conn, event)
        else:
            assert isinstance(event, CaseClosed)
            await case_closed(runtime, conn, event)

    return [
        Subscription("orders__case_holds", (CaseOpened.SUBJECT, CaseClosed.SUBJECT), case_holds),
        Subscription("orders__flash_sale_orders", (FlashSaleAdmitted.SUBJECT,), flash_sale_orders),
        Subscription("orders__claimed_coupons", (CouponClaimed.SUBJECT,), claimed_coupons),
        Subscription("orders__refund_grants", (RefundGranted.SUBJECT,), refund_grants),
        Subscription("orders__returns", (ReturnReceived.SUBJECT,), returns),
        Subscription("orders__vouchers_issued", (VouchersIssued.SUBJECT,), vouchers_issued),
        Subscription("orders__deal_refunds", (DealRefundRequested.SUBJECT,), deal_refunds),
    ]
