"""The funnel's micro-batched consumers: every step's event, from live, shop, orders and local_life, folded up to
`funnel_batch` events per transaction by one use case (`use_cases.ingest.fold`)."""

from __future__ import annotations

import asyncpg

from libs.bus import AfterCommit, Batch, Delivery, Subscription
from libs.contracts import (
    CartItemAdded,
    CouponClaimed,
    Event,
    FlashSaleAdmitted,
    FlashSaleOrdersPlaced,
    FunnelTapped,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    RedemptionUndone,
    RefundSucceeded,
    RoomViewed,
    VisitEnded,
    VoucherRedeemed,
)
from libs.runtime import Runtime
from services.live.funnel.use_cases import ingest

LIVE_STEPS = (
    RoomViewed.SUBJECT,
    VisitEnded.SUBJECT,
    FunnelTapped.SUBJECT,
    FlashSaleAdmitted.SUBJECT,
    CouponClaimed.SUBJECT,
)
SHOP_STEPS = (CartItemAdded.SUBJECT,)
ORDER_STEPS = (
    OrderPlaced.SUBJECT,
    FlashSaleOrdersPlaced.SUBJECT,
    OrderPaid.SUBJECT,
    OrderCancelled.SUBJECT,
    RefundSucceeded.SUBJECT,
)
LOCAL_STEPS = (VoucherRedeemed.SUBJECT, RedemptionUndone.SUBJECT)


def counts(event: Event) -> bool:
    """Whether the funnel records anything of the event: a cancelled order only for its flash-sale lines (expired)."""
    if isinstance(event, OrderCancelled):
        return any(line.flash_sale_id for line in event.lines)
    return True


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """The funnel's micro-batched consumers, one per producing service's stream."""

    async def fold(conn: asyncpg.Connection, deliveries: list[Delivery]) -> AfterCommit | None:
        return await ingest.fold(runtime, conn, deliveries)

    batch = Batch(fold, size=runtime.settings.funnel_batch)
    return [
        Subscription("live__funnel_live", LIVE_STEPS, batch=batch),
        Subscription("live__funnel_shop", SHOP_STEPS, batch=batch),
        Subscription("live__funnel_orders", ORDER_STEPS, wants=counts, batch=batch),
        Subscription("live__funnel_local", LOCAL_STEPS, batch=batch),
    ]
