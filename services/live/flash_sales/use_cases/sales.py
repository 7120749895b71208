"""What flash sales do for a host, a viewer or a deadline: create, start, end, and the views of a sale."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from libs.auth import Principal
from libs.bus import RequestFailed, add_events
from libs.contracts import ALLOCATE_STOCK, AllocateStock, AllocateStockReply, FlashSaleUnitsReturned
from libs.db import Database, write_once
from libs.errors import IdempotencyKeyReused
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from libs.scheduler import cancel, schedule
from services.live.flash_sales import domain, store
from services.live.flash_sales.domain import (
    InsufficientStock,
    InvalidValue,
    NewSaleTerms,
    SaleNotFound,
    ShopUnavailable,
    SkuNotInBag,
    UnknownSku,
)
from services.live.flash_sales.use_cases.admissions import admissions_of
from services.live.flash_sales.views import FlashSale, FlashSaleList, FlashSaleReport
from services.live.rooms.domain import RoomEnded
from services.live.rooms.store.feed import emit
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import Room

log = logging.getLogger(__name__)

START_JOB = "flash_sale_start"
END_JOB = "flash_sale_end"
ALLOCATE_TIMEOUT_S = 5.0


async def _staff_room(conn: asyncpg.Connection, room_id: str, principal: Principal) -> Room:
    room = await room_of(conn, room_id)
    domain.ensure_sale_staff(room, principal)
    return room


async def _sale_of_room(conn: asyncpg.Connection | Database, room_id: str, sale_id: str) -> asyncpg.Record:
    parsed = canonical_uuid(sale_id)
    row = await store.fetch_sale(conn, parsed) if parsed else None
    if row is None or str(row["room_id"]) != room_id:
        raise SaleNotFound()
    return row


def view(row: asyncpg.Record, now: datetime) -> FlashSale:
    return store.sale_view(row, domain.current_status(row["status"], row["starts_at"], row["ends_at"], now))


# --- create -----------------------------------------------------------------------------------


async def create_sale(
    runtime: Runtime,
    principal: Principal,
    room_id: str,
    *,
    key: str | None,
    sku_id: str,
    quantity: int,
    price_minor: int,
    per_buyer_limit: int,
    duration_s: int,
    starts_at: datetime | None,
    pay_within_s: int | None,
) -> object:
    """Put N units of a bag SKU on flash sale (shop sets them aside); a retried key gets the first answer."""
    room_id = canonical_uuid(room_id) or room_id
    # With a key, a retry names the same sale, hence the same allocation at shop: nothing is set aside twice.
    sale_id = derived_id("flash-sale", principal.sub, room_id, key) if key else str(uuid.uuid4())
    pay_within_s = pay_within_s if pay_within_s is not None else runtime.settings.flash_sale_payment_window_s
    terms = NewSaleTerms(
        quantity=quantity,
        price_minor=price_minor,
        per_buyer_limit=per_buyer_limit,
        duration_s=duration_s,
        pay_within_s=pay_within_s,
        starts_at=starts_at,
    )
    asked = {
        "sku_id": sku_id,
        "quantity": quantity,
        "price_minor": price_minor,
        "per_buyer_limit": per_buyer_limit,
        "duration_s": duration_s,
        "starts_at": starts_at,
        "pay_within_s": pay_within_s,
    }

    async def effect(conn: asyncpg.Connection) -> FlashSale:
        return await _create_sale(conn, runtime, principal, room_id, sale_id=sale_id, sku_id=sku_id, terms=terms)

    scope = f"live.flash_sale.create:{room_id}"
    return await write_once(runtime.db, caller=principal, scope=scope, key=key, request=asked, effect=effect)


async def _create_sale(
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
        raise RoomEnded("the room has ended; start it again to run a flash sale")
    starts_at, ends_at = domain.check_terms(terms, now)
    sku = await store.bag_sku(conn, room.room_id, sku_id)
    if sku is None:
        raise SkuNotInBag()
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
    kind = domain.SALE_STARTED if status == "running" else domain.SALE_SCHEDULED
    await emit(conn, room.room_id, kind, msgspec.to_builtins(sale))
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
        raise ShopUnavailable("shop did not set the stock aside in time; try again") from exc
    if reply.ok:
        return reply
    if reply.error == "insufficient_stock":
        raise InsufficientStock(reply.available or 0)
    if reply.error == "unknown_sku":
        raise UnknownSku()
    if reply.error == "invalid_quantity":
        raise InvalidValue("quantity", reply.detail or "invalid quantity")
    if reply.error == "allocation_conflict":
        # The sale id comes from the Idempotency-Key: that key already set aside another SKU or quantity.
        raise IdempotencyKeyReused()
    log.warning("sale %s: shop refused the allocation: %s (%s)", sale_id, reply.error, reply.detail)
    raise ShopUnavailable("shop could not set the stock aside; try again")


# --- start and end -----------------------------------------------------------------------------


async def start_sale(runtime: Runtime, conn: asyncpg.Connection, sale_id: str) -> None:
    """A scheduled sale's start time came: it runs (purchases go by the clock already; this tells the room)."""
    row = await store.fetch_sale(conn, sale_id)
    if row is None or row["status"] != "scheduled":
        return
    await store.lock_room(conn, str(row["room_id"]))
    await _mark_started(conn, sale_id)


async def _mark_started(conn: asyncpg.Connection, sale_id: str) -> None:
    """Store the start the clock already decided and announce it (the room row is locked); once."""
    started = await store.mark_started(conn, sale_id)
    if started is not None:
        sale = store.sale_view(started, "running")
        await emit(conn, sale.room_id, domain.SALE_STARTED, msgspec.to_builtins(sale))


async def end_sale_on_time(runtime: Runtime, conn: asyncpg.Connection, sale_id: str) -> None:
    """A sale's end time came."""
    await end(conn, runtime.clock.now(), sale_id, "time")


async def end(conn: asyncpg.Connection, now: datetime, sale_id: str, reason: str) -> asyncpg.Record | None:
    """End a sale once (room row first, then the sale's): unsold units go back to shop; None if it had ended."""
    row = await store.fetch_sale(conn, sale_id)
    if row is None or row["status"] == "ended":
        return None
    await store.lock_room(conn, str(row["room_id"]))
    if row["status"] == "scheduled" and now >= row["starts_at"]:
        # The clock started this sale (buyers may have been admitted) but its start job has not run yet:
        # do the start's work first, so the sale ends as one that ran, never as one cancelled before it began.
        await _mark_started(conn, sale_id)
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
    await emit(
        conn,
        str(ended["room_id"]),
        domain.SALE_ENDED,
        {"sale_id": sale_id, "reason": ended["end_reason"], "remaining": 0, "returned": ended["returned"]},
    )
    return ended


async def end_by_staff(runtime: Runtime, principal: Principal, room_id: str, sale_id: str) -> FlashSale:
    """The host or merchant ends a sale early (or cancels one not started); ending an ended sale changes nothing."""
    async with runtime.db.transaction() as conn:
        room = await _staff_room(conn, room_id, principal)
        row = await _sale_of_room(conn, room.room_id, sale_id)
        now = runtime.clock.now()
        ended = await end(conn, now, str(row["sale_id"]), "host")
        sale = view(ended or row, now)
    # Committed: this process answers the sale's buyers as ended from now on.
    admissions_of(runtime).note_ended(sale.sale_id)
    return sale


# --- views -------------------------------------------------------------------------------------


async def get_sale(runtime: Runtime, room_id: str, sale_id: str) -> FlashSale:
    """A sale with its status and units left; public."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        return view(await _sale_of_room(conn, room.room_id, sale_id), runtime.clock.now())


async def list_sales(runtime: Runtime, room_id: str) -> FlashSaleList:
    """The room's flash sales, newest first; public."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        now = runtime.clock.now()
        return FlashSaleList(items=[view(row, now) for row in await store.sales_of_room(conn, room.room_id)])


async def report(runtime: Runtime, principal: Principal, room_id: str, sale_id: str) -> FlashSaleReport:
    """How the sale went (units admitted, paid, expired, returned), for the room's host and merchant."""
    async with runtime.db.transaction() as conn:
        room = await _staff_room(conn, room_id, principal)
        row = await _sale_of_room(conn, room.room_id, sale_id)
        counts = await store.report_counts(conn, str(row["sale_id"]))
    return FlashSaleReport(
        sale=view(row, runtime.clock.now()),
        admitted_units=counts["admitted_units"],
        paid_units=counts["paid_units"],
        expired_units=counts["expired_units"],
        returned_units=row["returned"],
        buyers=counts["buyers"],
        end_reason=row["end_reason"],
    )


# --- in the room -------------------------------------------------------------------------------


class SalesInRoom:
    """Flash sales as rooms know them (a `RoomActivity`): listed in the room's state, ended with the room."""

    state_key = "sales"

    async def state_in_room(
        self, runtime: Runtime, conn: asyncpg.Connection, room_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The room's running and scheduled sales with their units left."""
        sales = [view(row, now) for row in await store.sales_of_room(conn, room_id, open_only=True)]
        return [msgspec.to_builtins(sale) for sale in sales if sale.status != "ended"]

    async def end_in_room(self, runtime: Runtime, conn: asyncpg.Connection, room_id: str, now: datetime) -> None:
        """The room ended (in the caller's transaction, which holds the room row): its open sales end too."""
        for row in await store.sales_of_room(conn, room_id, open_only=True):
            await end(conn, now, str(row["sale_id"]), "room_ended")
