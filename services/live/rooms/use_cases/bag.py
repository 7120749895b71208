"""A room's bag and pin: add, remove, reorder, pin, list; each change tells the room's viewers."""

from __future__ import annotations

import asyncpg
import msgspec

from libs.auth import Principal
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.rooms import domain, store
from services.live.rooms.domain import BagItemNotFound
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import Bag, BagEntry, BagItem, Pin


async def bag_items(conn: asyncpg.Connection, room_id: str, product_id: str | None = None) -> list[BagItem]:
    """The bag's products (or just one) in order, with prices, the newest stock live knows and the pin."""
    rows = await store.bag.fetch_bag_rows(conn, room_id, product_id=product_id)
    stock = await store.bag.fetch_stock(conn, [str(r["product_id"]) for r in rows])
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
    items = await bag_items(conn, room_id)
    return Bag(items=items, pinned_product_id=next((i.product_id for i in items if i.pinned), None))


async def _bag_changed(conn: asyncpg.Connection, room_id: str) -> None:
    product_ids = await store.bag.bag_product_ids(conn, room_id)
    await store.feed.emit(conn, room_id, domain.BAG_CHANGED, {"product_ids": product_ids})


async def _pin_changed(conn: asyncpg.Connection, room_id: str, product_id: str | None) -> None:
    items = await bag_items(conn, room_id, product_id) if product_id else []
    product = msgspec.to_builtins(items[0]) if items else None
    await store.feed.emit(conn, room_id, domain.PIN_CHANGED, {"product_id": product_id, "product": product})


async def add_to_bag(runtime: Runtime, caller: Principal, room_id: str, product_id: str) -> tuple[BagEntry, bool]:
    """Link a product to the room; (entry, created) — a product already there is left where it is."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        product = domain.ensure_product_fits_room(room, await store.bag.fetch_product(conn, product_id))
        existing = await store.bag.fetch_bag_entry(conn, room.room_id, product.product_id)
        if existing is not None:
            return existing, False
        entry = await store.bag.insert_bag_entry(conn, room.room_id, product.product_id, runtime.clock.now())
        await _bag_changed(conn, room.room_id)
        return entry, True


async def remove_from_bag(runtime: Runtime, caller: Principal, room_id: str, product_id: str) -> None:
    """Unlink a product; if it was pinned, nothing is pinned any more."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        parsed = canonical_uuid(product_id)
        if parsed is None or await store.bag.fetch_bag_entry(conn, room.room_id, parsed) is None:
            raise BagItemNotFound()
        if await store.rooms.pinned_product(conn, room.room_id) == parsed:
            await store.rooms.set_pin(conn, room.room_id, None)
            await _pin_changed(conn, room.room_id, None)
        await store.bag.delete_bag_entry(conn, room.room_id, parsed)
        await _bag_changed(conn, room.room_id)


async def reorder_bag(runtime: Runtime, caller: Principal, room_id: str, product_ids: list[str]) -> Bag:
    """Put the bag in the given order (every product of the bag exactly once)."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        current = await store.bag.bag_product_ids(conn, room.room_id)
        domain.ensure_bag_order(current, product_ids)
        if product_ids != current:
            await store.bag.reorder_bag(conn, room.room_id, product_ids)
            await _bag_changed(conn, room.room_id)
        return await _bag(conn, room.room_id)


async def pin(runtime: Runtime, caller: Principal, room_id: str, product_id: str | None) -> Pin:
    """Pin a product of the bag for every viewer to see (None: unpin)."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        if product_id is not None:
            domain.ensure_in_bag(await store.bag.bag_product_ids(conn, room.room_id), product_id)
        if await store.rooms.set_pin(conn, room.room_id, product_id):
            await _pin_changed(conn, room.room_id, product_id)
        return Pin(room_id=room.room_id, product_id=product_id)


async def get_bag(runtime: Runtime, room_id: str) -> Bag:
    """The room's bag in order, with prices, stock state and the pinned product; public."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        return await _bag(conn, room.room_id)
