"""What live does for a caller: one transaction each, domain rules between the store's reads and writes."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from libs.auth import Principal
from libs.clock import Clock
from libs.db import Database
from libs.ids import canonical_uuid
from libs.web.problems import Problem
from services.live import domain, store
from services.live.domain import Bag, BagEntry, BagItem, Room, RoomStats, View


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


async def _room(conn: asyncpg.Connection, room_id: str, *, lock: bool = False) -> Room:
    parsed = canonical_uuid(room_id)
    room = await store.fetch_room(conn, parsed, lock=lock) if parsed else None
    if room is None:
        raise domain.room_not_found()
    return room


async def get_room(db: Database, room_id: str) -> Room:
    async with db.transaction() as conn:
        return await _room(conn, room_id)


async def add_to_bag(
    db: Database, clock: Clock, host: Principal, room_id: str, product_id: str
) -> tuple[BagEntry, bool]:
    """Link a product to the room; (entry, created) — a product already there is left where it is."""
    async with db.transaction() as conn:
        room = await _room(conn, room_id, lock=True)
        domain.ensure_room_host(room, host)
        product = domain.ensure_product_fits_room(room, await store.fetch_product(conn, product_id))
        existing = await store.fetch_bag_entry(conn, room.room_id, product.product_id)
        if existing is not None:
            return existing, False
        return await store.insert_bag_entry(conn, room.room_id, product.product_id, clock.now()), True


async def remove_from_bag(db: Database, host: Principal, room_id: str, product_id: str) -> None:
    async with db.transaction() as conn:
        room = await _room(conn, room_id, lock=True)
        domain.ensure_room_host(room, host)
        parsed = canonical_uuid(product_id)
        if parsed is None or not await store.delete_bag_entry(conn, room.room_id, parsed):
            raise Problem(404, "not-found", "this product is not in the room's bag")


async def get_bag(db: Database, room_id: str) -> Bag:
    async with db.transaction() as conn:
        room = await _room(conn, room_id)
        rows = await store.fetch_bag_rows(conn, room.room_id)
        stock = await store.fetch_stock(conn, [str(r["product_id"]) for r in rows])
    items = [
        BagItem(
            product_id=str(r["product_id"]),
            title=r["title"],
            position=r["position"],
            skus=domain.bag_skus(r["skus"], stock),
        )
        for r in rows
    ]
    return Bag(items=items)


async def join_room(conn: asyncpg.Connection, clock: Clock, viewer: Principal, room_id: str) -> View:
    """Count a view of the room by the caller."""
    room = await _room(conn, room_id)
    view = View(room_id=room.room_id, viewer_id=viewer.sub, joined_at=clock.now())
    await store.record_view(conn, view.room_id, view.viewer_id, view.joined_at)
    return view


async def get_stats(db: Database, reader: Principal, room_id: str) -> RoomStats:
    """The room's counters, for its host or its merchant; anyone else learns nothing, not even that it exists."""
    async with db.transaction() as conn:
        room = await _room(conn, room_id)
        if not domain.may_read_stats(room, reader):
            raise domain.room_not_found()
        return await store.fetch_stats(conn, room.room_id)
