"""Reactions to live's events, each in its consumer's inbox transaction: flash-sale admissions become orders
awaiting payment; claimed coupons are kept."""

from __future__ import annotations

import asyncpg

from libs.bus import Subscription
from libs.contracts import CouponClaimed, Event, FlashSaleAdmitted
from libs.runtime import Runtime
from services.orders.use_cases.coupons import keep_coupon
from services.orders.use_cases.flash_sales import open_admitted_orders


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Durable consumers: each event applied once, in the same transaction as its inbox row."""

    async def flash_sale_orders(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, FlashSaleAdmitted)
        await open_admitted_orders(runtime, conn, event)

    async def claimed_coupons(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, CouponClaimed)
        await keep_coupon(runtime, conn, event)

    return [
        Subscription("orders__flash_sale_orders", (FlashSaleAdmitted.SUBJECT,), flash_sale_orders),
        Subscription("orders__claimed_coupons", (CouponClaimed.SUBJECT,), claimed_coupons),
    ]
