"""What live does for a caller: one transaction each, domain rules between the store's reads and writes."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from libs.auth import Principal
from libs.clock import Clock
from libs.db import Database
from libs.ids import canonical_uuid
from libs.scheduler import cancel, schedule
from libs.web.problems import Problem
from services.live import domain, feed, store
from services.live.domain import Bag, BagEntry, BagItem, Pin, Room, RoomState, RoomStats
from services.live.sales import hooks

# Due job closing a live session's stale views (see viewers.sweep_presence).
PRESENCE_SWEEP = "presence_sweep"


async def create_room(
    conn: asyncpg.Connection,
    clock: Clock,
    host: Principal,
    *,
    title: str,
    merchant_id: str,
    cover_url: str | None,
    scheduled_start_at: datetime | None,
) -> Room:
    """A new scheduled room hosted by the caller."""
    room = Room(
        room_id=str(uuid.uuid4()),
        host_id=host.sub,
        merchant_id=merchant_id,
        title=title,
        cover_url=cover_url,
        status="scheduled",
        scheduled_start_at=scheduled_start_at,
        created_at=clock.now(),
    )
    await store.insert_room(conn, room)
    return room


async def room_of(conn: asyncpg.Connection, room_id: str, *, lock: bool = False) -> Room:
    """The room by a client-given id, or 404 (without a query for an id that is no UUID)."""
    parsed = canonical_uuid(room_id)
    room = await store.fetch_room(conn, parsed, lock=lock) if parsed else None
    if room is None:
        raise domain.room_not_found()
    return room


async def get_room(db: Database, room_id: str) -> Room:
    async with db.transaction() as conn:
        return await room_of(conn, room_id)


# --- lifecycle ----------------------------------------------------------------------------


async def start_room(conn: asyncpg.Connection, clock: Clock, caller: Principal, room_id: str) -> Room:
    """Go live: a new session opens, its presence sweeper is scheduled, viewers hear `room.started`."""
    room = await room_of(conn, room_id, lock=True)
    domain.ensure_room_staff(room, caller)
    domain.ensure_may_start(room)
    now, session_id = clock.now(), str(uuid.uuid4())
    started = await store.start_session(conn, room.room_id, session_id, now)
    if started is None:  # the room lock rules this out; the conditional update is the backstop
        raise Problem(409, "room-already-live", "the room is live already")
    await schedule(
        conn, PRESENCE_SWEEP, session_id, now + timedelta(seconds=domain.SWEEP_EVERY_S), {"room_id": room.room_id}
    )
    await feed.emit(conn, room.room_id, feed.ROOM_STARTED, {"session_id": session_id, "started_at": now})
    return started


async def end_room(conn: asyncpg.Connection, clock: Clock, caller: Principal, room_id: str) -> Room:
    """Stop being live: the session and its open views close, its sales end, viewers hear `room.ended`."""
    room = await room_of(conn, room_id, lock=True)
    domain.ensure_room_staff(room, caller)
    domain.ensure_live(room)
    now = clock.now()
    # Waits for joins in flight (they share-lock the session), so no view opens in an ended session.
    ended = await store.end_session(conn, room.room_id, now)
    if ended is None:
        raise Problem(409, "room-not-live", "the room is not live")
    room, session_id = ended
    await store.close_session_views(conn, session_id, now, domain.stale_before(now))
    await cancel(conn, PRESENCE_SWEEP, session_id)
    await hooks.on_room_ended(conn, clock, room.room_id)
    await feed.emit(conn, room.room_id, feed.ROOM_ENDED, {"session_id": session_id, "ended_at": now})
    return room


async def update_room(conn: asyncpg.Connection, caller: Principal, room_id: str, changes: dict[str, Any]) -> Room:
    """Change title, cover or scheduled start of a room that has not ended; viewers hear `room.updated`."""
    room = await room_of(conn, room_id, lock=True)
    domain.ensure_room_staff(room, caller)
    domain.ensure_may_edit(room)
    updated = await store.update_room(conn, room.room_id, changes)
    if updated != room:
        fields = {name: getattr(updated, name) for name in ("title", "cover_url", "scheduled_start_at")}
        await feed.emit(conn, room.room_id, feed.ROOM_UPDATED, fields)
    return updated


# --- bag and pin -----------------------------------------------------------------------------


async def _bag_items(conn: asyncpg.Connection, room_id: str, product_id: str | None = None) -> list[BagItem]:
    rows = await store.fetch_bag_rows(conn, room_id, product_id=product_id)
    stock = await store.fetch_stock(conn, [str(r["product_id"]) for r in rows])
    return [
        BagItem(
            product_id=str(r["product_id"]),
            title=r["title"],
            position=r["position"],
            pinned=r["pinned"],
            skus=domain.bag_skus(r["skus"], stock),
        )
        for r in rows
    ]


async def _bag(conn: asyncpg.Connection, room_id: str) -> Bag:
    items = await _bag_items(conn, room_id)
    return Bag(items=items, pinned_product_id=next((i.product_id for i in items if i.pinned), None))


async def _bag_changed(conn: asyncpg.Connection, room_id: str) -> None:
    await feed.emit(conn, room_id, feed.BAG_CHANGED, {"product_ids": await store.bag_product_ids(conn, room_id)})


async def _pin_changed(conn: asyncpg.Connection, room_id: str, product_id: str | None) -> None:
    items = await _bag_items(conn, room_id, product_id) if product_id else []
    product = msgspec.to_builtins(items[0]) if items else None
    await feed.emit(conn, room_id, feed.PIN_CHANGED, {"product_id": product_id, "product": product})


async def add_to_bag(
    db: Database, clock: Clock, caller: Principal, room_id: str, product_id: str
) -> tuple[BagEntry, bool]:
    """Link a product to the room; (entry, created) — a product already there is left where it is."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        product = domain.ensure_product_fits_room(room, await store.fetch_product(conn, product_id))
        existing = await store.fetch_bag_entry(conn, room.room_id, product.product_id)
        if existing is not None:
            return existing, False
        entry = await store.insert_bag_entry(conn, room.room_id, product.product_id, clock.now())
        await _bag_changed(conn, room.room_id)
        return entry, True


async def remove_from_bag(db: Database, caller: Principal, room_id: str, product_id: str) -> None:
    """Unlink a product; if it was pinned, nothing is pinned any more."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        parsed = canonical_uuid(product_id)
        if parsed is None or await store.fetch_bag_entry(conn, room.room_id, parsed) is None:
            raise Problem(404, "not-found", "this product is not in the room's bag")
        if await store.pinned_product(conn, room.room_id) == parsed:
            await store.set_pin(conn, room.room_id, None)
            await _pin_changed(conn, room.room_id, None)
        await store.delete_bag_entry(conn, room.room_id, parsed)
        await _bag_changed(conn, room.room_id)


async def reorder_bag(db: Database, caller: Principal, room_id: str, product_ids: list[str]) -> Bag:
    """Put the bag in the given order (every product of the bag exactly once)."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        current = await store.bag_product_ids(conn, room.room_id)
        domain.ensure_bag_order(current, product_ids)
        if product_ids != current:
            await store.reorder_bag(conn, room.room_id, product_ids)
            await _bag_changed(conn, room.room_id)
        return await _bag(conn, room.room_id)


async def pin(db: Database, caller: Principal, room_id: str, product_id: str | None) -> Pin:
    """Pin a product of the bag for every viewer to see (None: unpin)."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        if product_id is not None:
            domain.ensure_in_bag(await store.bag_product_ids(conn, room.room_id), product_id)
        if await store.set_pin(conn, room.room_id, product_id):
            await _pin_changed(conn, room.room_id, product_id)
        return Pin(room_id=room.room_id, product_id=product_id)


async def get_bag(db: Database, room_id: str) -> Bag:
    async with db.transaction() as conn:
        room = await room_of(conn, room_id)
        return await _bag(conn, room.room_id)


# --- what viewers see and what the room's staff count ---------------------------------------


async def room_state(db: Database, clock: Clock, room_id: str) -> RoomState:
    """The room as a viewer's screen shows it, with the `seq` of the newest feed event it includes."""
    # One snapshot for every read: each change commits with its seq bump, so exactly the events with a
    # higher seq are missing from this state (the feed drops the others).
    async with db.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        room = await room_of(conn, room_id)
        pinned_id = await store.pinned_product(conn, room.room_id)
        pinned = await _bag_items(conn, room.room_id, pinned_id) if pinned_id else []
        sales = await hooks.room_snapshot(conn, room.room_id, clock.now())
        present = await store.concurrent_viewers(conn, [room.room_id], domain.stale_before(clock.now()))
        return RoomState(
            room=room,
            pinned=pinned[0] if pinned else None,
            sales=list(sales.get("sales", [])),
            coupon_drops=list(sales.get("coupon_drops", [])),
            concurrent_viewers=present.get(room.room_id, 0),
            seq=await store.feed_seq(conn, room.room_id),
        )


async def get_stats(db: Database, clock: Clock, reader: Principal, room_id: str) -> RoomStats:
    """The room's counters, for its host or its merchant; anyone else learns nothing, not even that it exists."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id)
        if not domain.is_room_staff(room, reader):
            raise domain.room_not_found()
        now = clock.now()
        sessions = await store.session_stats(conn, room.room_id, now, domain.stale_before(now))
        views, viewers = await store.room_view_totals(conn, room.room_id)
        sales = await store.room_sales(conn, room.room_id)
    return RoomStats(
        room_id=room.room_id,
        views=views,
        unique_viewers=viewers,
        concurrent_viewers=sum(s.concurrent_viewers for s in sessions if s.ended_at is None),
        paid_orders=sales["paid_orders"],
        paid_amount_minor=sales["paid_amount_minor"],
        currency=sales["currency"],
        sessions=sessions,
    )
