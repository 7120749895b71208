"""What becomes of an admission: its order paid, or cancelled unpaid (the unit goes back to the sale or to shop)."""

from __future__ import annotations

import logging

import asyncpg

from libs.bus import add_events
from libs.contracts import FlashSaleUnitsReturned, OrderCancelled, OrderPaid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.flash_sales import domain, store
from services.live.rooms.store.feed import emit

log = logging.getLogger(__name__)


def admissions_of_order(event: OrderPaid | OrderCancelled) -> list[str]:
    """Admission ids among an order's lines (orders not from a flash sale have none)."""
    found = []
    for line in event.lines:
        admission_id = canonical_uuid(line.admission_id) if line.admission_id else None
        if admission_id and admission_id not in found:
            found.append(admission_id)
    return found


async def record_order_outcome(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid | OrderCancelled) -> None:
    """A flash-sale order was paid (its admissions are paid) or cancelled unpaid (they expire); once per event."""
    for admission_id in admissions_of_order(event):
        if isinstance(event, OrderPaid):
            if not await store.mark_paid(conn, admission_id, runtime.clock.now()):
                log.info("order %s paid: admission %s was not awaiting payment", event.order_id, admission_id)
        else:
            await expire(runtime, conn, admission_id, event.order_id)


async def expire(runtime: Runtime, conn: asyncpg.Connection, admission_id: str, order_id: str) -> None:
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
        await emit(conn, room_id, domain.SALE_STOCK, {"sale_id": sale_id, "remaining": remaining})
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
