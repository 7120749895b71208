"""What becomes of an admission: its order paid, or cancelled unpaid (the unit goes back to the sale or to shop)."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import add_events
from libs.bus.consumer import Handler
from libs.contracts import Event, FlashSaleUnitsReturned, OrderCancelled, OrderPaid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live import feed
from services.live.sales import flash, store

log = logging.getLogger(__name__)

CONSUMER = "live__flash_sale_orders"


def admissions_of(event: OrderPaid | OrderCancelled) -> list[str]:
    """Admission ids among an order's lines (orders not from a flash sale have none)."""
    found = []
    for line in event.lines:
        admission_id = canonical_uuid(line.admission_id) if line.admission_id else None
        if admission_id and admission_id not in found:
            found.append(admission_id)
    return found


def settle_admissions(runtime: Runtime) -> Handler:
    """Handler of OrderPaid / OrderCancelled for flash-sale orders; runs once per event (inbox)."""

    async def settle(conn: asyncpg.Connection, event: Event) -> None:
        assert isinstance(event, OrderPaid | OrderCancelled)
        for admission_id in admissions_of(event):
            if isinstance(event, OrderPaid):
                if not await store.mark_paid(conn, admission_id, runtime.clock.now()):
                    log.info("order %s paid: admission %s was not awaiting payment", event.order_id, admission_id)
            else:
                await expire(conn, runtime, admission_id, event.order_id)

    return settle


async def expire(conn: asyncpg.Connection, runtime: Runtime, admission_id: str, order_id: str) -> None:
    """An admission's order was cancelled unpaid: its units go back on sale, or to shop if the sale has ended."""
    found = await store.admission_sale(conn, admission_id)
    if found is None:
        log.info("order %s cancelled: no admission %s here", order_id, admission_id)
        return
    sale_id, room_id = str(found["sale_id"]), str(found["room_id"])
    # Room row, then sale row (the order every flash-sale transaction takes them in).
    await store.lock_room(conn, room_id)
    sale = await store.fetch_sale(conn, sale_id, lock=True)
    expired = await store.mark_expired(conn, admission_id, runtime.clock.now())
    if expired is None:
        return
    units, buyer_id = expired["quantity"], expired["buyer_id"]
    if sale["status"] != "ended":
        remaining = await store.put_back(conn, sale_id, buyer_id, units)
        # Tells every instance the sale is not sold out any more.
        await feed.emit(conn, room_id, flash.SALE_STOCK, {"sale_id": sale_id, "remaining": remaining})
        return
    await store.give_back_after_end(conn, sale_id, buyer_id, units)
    await add_events(
        conn,
        FlashSaleUnitsReturned(
            sale_id=sale_id,
            merchant_id=str(sale["merchant_id"]),
            sku_id=str(sale["sku_id"]),
            quantity=units,
            reason="admission_expired",
        ),
    )
