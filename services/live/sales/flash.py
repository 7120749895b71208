"""What flash sales do for a host, a viewer or a deadline: create, start, end, and the views of a sale."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from libs.auth import Principal
from libs.bus import RequestFailed, add_events
from libs.clock import Clock
from libs.contracts import ALLOCATE_STOCK, AllocateStock, AllocateStockReply, FlashSaleUnitsReturned
from libs.db import Database
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.scheduler import cancel, schedule
from libs.web.problems import Problem
from services.live import domain as rooms
from services.live import feed
from services.live.sales import domain, store
from services.live.sales.domain import FlashSale, FlashSaleList, FlashSaleReport, NewSaleTerms
from services.live.store import fetch_room

log = logging.getLogger(__name__)

START_JOB = "flash_sale_start"
END_JOB = "flash_sale_end"
ALLOCATE_TIMEOUT_S = 5.0

SALE_SCHEDULED = "sale.scheduled"
SALE_STARTED = "sale.started"
SALE_STOCK = "sale.stock"
SALE_SOLD_OUT = "sale.sold_out"
SALE_ENDED = "sale.ended"


def sale_not_found() -> Problem:
    return Problem(404, "not-found", "no such flash sale in this room")


async def _room(conn: asyncpg.Connection, room_id: str) -> rooms.Room:
    parsed = canonical_uuid(room_id)
    room = await fetch_room(conn, parsed) if parsed else None
    if room is None:
        raise rooms.room_not_found()
    return room


async def _staff_room(conn: asyncpg.Connection, room_id: str, principal: Principal) -> rooms.Room:
    room = await _room(conn, room_id)
    if not rooms.is_room_staff(room, principal):
        raise Problem(403, "not-your-room", "only the room's host or the merchant it sells for may run its sales")
    return room


async def _sale_of_room(conn: asyncpg.Connection | Database, room_id: str, sale_id: str) -> asyncpg.Record:
    parsed = canonical_uuid(sale_id)
    row = await store.fetch_sale(conn, parsed) if parsed else None
    if row is None or str(row["room_id"]) != room_id:
        raise sale_not_found()
    return row


def view(row: asyncpg.Record, now: datetime) -> FlashSale:
    return store.sale_view(row, domain.current_status(row["status"], row["starts_at"], row["ends_at"], now))


# --- create -----------------------------------------------------------------------------------


async def create_sale(
    conn: asyncpg.Connection,
    runtime: Runtime,
    principal: Principal,
    room_id: str,
    *,
    sale_id: str,
    sku_id: str,
    terms: NewSaleTerms,
) -> FlashSale:
    """Move N units of a bag SKU into a new sale (shop allocates them), then announce it in the room."""
    now = runtime.clock.now()
    room = await _staff_room(conn, room_id, principal)
    if room.status == "ended":
        raise Problem(409, "room-ended", "the room has ended; start it again to run a flash sale")
    starts_at, ends_at = domain.check_terms(terms, now)
    sku = await store.bag_sku(conn, room.room_id, sku_id)
    if sku is None:
        raise Problem(422, "sku-not-in-bag", "the SKU is not of a product in the room's bag", field="sku_id")
    allocated = await _allocate(runtime, sale_id, room.merchant_id, sku_id, terms.quantity)
    status = "running" if starts_at <= now else "scheduled"
    row = await store.insert_sale(
        conn,
        sale_id=sale_id,
        room_id=room.room_id,
        merchant_id=room.merchant_id,
        product_id=allocated.product_id or str(sku["product_id"]),
        sku_id=sku_id,
        title=allocated.title or sku["title"],
        sku_name=allocated.sku_name or sku["sku_name"],
        price_minor=terms.price_minor,
        currency=(allocated.currency or sku["currency"]).upper(),
        quantity=terms.quantity,
        per_buyer_limit=terms.per_buyer_limit,
        pay_within_s=terms.pay_within_s,
        status=status,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=principal.sub,
        created_at=now,
    )
    if status == "scheduled":
        await schedule(conn, START_JOB, sale_id, starts_at)
    await schedule(conn, END_JOB, sale_id, ends_at)
    sale = view(row, now)
    kind = SALE_STARTED if status == "running" else SALE_SCHEDULED
    await feed.emit(conn, room.room_id, kind, msgspec.to_builtins(sale))
    return sale


async def _allocate(runtime: Runtime, sale_id: str, merchant_id: str, sku_id: str, quantity: int) -> AllocateStockReply:
    # Shop must not commit an allocation after we stopped waiting: we would write no sale for it.
    answer_by = runtime.clock.now() + timedelta(seconds=ALLOCATE_TIMEOUT_S)
    request = AllocateStock(
        allocation_id=sale_id, merchant_id=merchant_id, sku_id=sku_id, quantity=quantity, answer_by=answer_by
    )
    try:
        reply = await runtime.bus.request(ALLOCATE_STOCK, request, AllocateStockReply, timeout=ALLOCATE_TIMEOUT_S)
    except RequestFailed as exc:
        raise Problem(503, "shop-unavailable", "shop did not set the stock aside in time; try again") from exc
    if reply.ok:
        return reply
    if reply.error == "insufficient_stock":
        available = reply.available or 0
        raise Problem(
            409,
            "insufficient-stock",
            f"only {available} of this SKU are available",
            field="quantity",
            available=available,
        )
    if reply.error == "unknown_sku":
        raise Problem(422, "unknown-sku", "shop does not sell this SKU for the room's merchant", field="sku_id")
    if reply.error == "invalid_quantity":
        raise Problem(422, "invalid-quantity", reply.detail or "invalid quantity", field="quantity")
    if reply.error == "allocation_conflict":
        # The sale id comes from the Idempotency-Key: that key already set aside another SKU or quantity.
        raise domain.key_reused()
    log.warning("sale %s: shop refused the allocation: %s (%s)", sale_id, reply.error, reply.detail)
    raise Problem(503, "shop-unavailable", "shop could not set the stock aside; try again")


# --- start and end -----------------------------------------------------------------------------


async def start_job(conn: asyncpg.Connection, key: str, payload: dict) -> None:
    """A scheduled sale's start time came: it runs (purchases go by the clock already; this tells the room)."""
    row = await store.fetch_sale(conn, key)
    if row is None or row["status"] != "scheduled":
        return
    await store.lock_room(conn, str(row["room_id"]))
    started = await store.mark_started(conn, key)
    if started is not None:
        sale = store.sale_view(started, "running")
        await feed.emit(conn, sale.room_id, SALE_STARTED, msgspec.to_builtins(sale))


def end_job(clock: Clock):
    async def run(conn: asyncpg.Connection, key: str, payload: dict) -> None:
        """A sale's end time came."""
        await end(conn, clock.now(), key, "time")

    return run


async def end(conn: asyncpg.Connection, now: datetime, sale_id: str, reason: str) -> asyncpg.Record | None:
    """End a sale once (room row first, then the sale's): unsold units go back to shop; None if it had ended."""
    row = await store.fetch_sale(conn, sale_id)
    if row is None or row["status"] == "ended":
        return None
    await store.lock_room(conn, str(row["room_id"]))
    ended = await store.mark_ended(conn, sale_id, reason, now)
    if ended is None:
        return None
    if ended["remaining_before"] > 0:
        returned_reason = "sale_cancelled" if ended["status_before"] == "scheduled" else "sale_ended"
        await add_events(
            conn,
            FlashSaleUnitsReturned(
                sale_id=sale_id,
                merchant_id=str(ended["merchant_id"]),
                sku_id=str(ended["sku_id"]),
                quantity=ended["remaining_before"],
                reason=returned_reason,
            ),
        )
    await cancel(conn, START_JOB, sale_id)
    await cancel(conn, END_JOB, sale_id)
    await feed.emit(
        conn,
        str(ended["room_id"]),
        SALE_ENDED,
        {"sale_id": sale_id, "reason": ended["end_reason"], "remaining": 0, "returned": ended["returned"]},
    )
    return ended


async def end_by_staff(db: Database, clock: Clock, principal: Principal, room_id: str, sale_id: str) -> FlashSale:
    """The host or merchant ends a sale early (or cancels one not started); ending an ended sale changes nothing."""
    async with db.transaction() as conn:
        room = await _staff_room(conn, room_id, principal)
        row = await _sale_of_room(conn, room.room_id, sale_id)
        now = clock.now()
        ended = await end(conn, now, str(row["sale_id"]), "host")
        return view(ended or row, now)


async def end_room_sales(conn: asyncpg.Connection, now: datetime, room_id: str) -> None:
    """The room ended (in the caller's transaction, which holds the room row): its open sales end too."""
    for row in await store.room_sales(conn, room_id, open_only=True):
        await end(conn, now, str(row["sale_id"]), "room_ended")


# --- views -------------------------------------------------------------------------------------


async def get_sale(db: Database, clock: Clock, room_id: str, sale_id: str) -> FlashSale:
    async with db.transaction() as conn:
        room = await _room(conn, room_id)
        return view(await _sale_of_room(conn, room.room_id, sale_id), clock.now())


async def list_sales(db: Database, clock: Clock, room_id: str) -> FlashSaleList:
    async with db.transaction() as conn:
        room = await _room(conn, room_id)
        now = clock.now()
        return FlashSaleList(items=[view(row, now) for row in await store.room_sales(conn, room.room_id)])


async def report(db: Database, clock: Clock, principal: Principal, room_id: str, sale_id: str) -> FlashSaleReport:
    async with db.transaction() as conn:
        room = await _staff_room(conn, room_id, principal)
        row = await _sale_of_room(conn, room.room_id, sale_id)
        counts = await store.report_counts(conn, str(row["sale_id"]))
    return FlashSaleReport(
        sale=view(row, clock.now()),
        admitted_units=counts["admitted_units"],
        paid_units=counts["paid_units"],
        expired_units=counts["expired_units"],
        returned_units=row["returned"],
        buyers=counts["buyers"],
        end_reason=row["end_reason"],
    )


async def snapshot(conn: asyncpg.Connection, room_id: str, now: datetime) -> list[dict[str, Any]]:
    """The room's running and scheduled sales with their units left, for the room's state."""
    sales = [view(row, now) for row in await store.room_sales(conn, room_id, open_only=True)]
    return [msgspec.to_builtins(sale) for sale in sales if sale.status != "ended"]
