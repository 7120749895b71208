"""A room's bag and pin: add, remove, reorder, pin, list products and deals; each change tells the room's viewers."""

from __future__ import annotations

import asyncpg
import msgspec

from libs.auth import Principal
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.rooms import domain, store
from services.live.rooms.domain import DEAL, PRODUCT, BagItemNotFound, BagRef
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import Bag, BagDeal, BagEntry, BagItem, Pin


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


async def bag_deals(conn: asyncpg.Connection, room_id: str, deal_id: str | None = None) -> list[BagDeal]:
    """The bag's deals (or just one) in order, with their terms, whether still on sale and the pin."""
    rows = await store.bag.fetch_bag_deal_rows(conn, room_id, deal_id=deal_id)
    return [
        BagDeal(
            deal_id=str(r["deal_id"]),
            title=r["title"],
            position=r["position"],
            pinned=r["pinned"],
            price_minor=r["price_minor"],
            original_value_minor=r["original_value_minor"],
            currency=r["currency"],
            vouchers_per_purchase=r["vouchers_per_purchase"],
            team_size=r["team_size"],
            on_sale=r["status"] == "published",
        )
        for r in rows
    ]


async def bag_entry(conn: asyncpg.Connection, room_id: str, ref: BagRef | None) -> BagItem | BagDeal | None:
    """One entry of the bag as viewers see it (the pinned one in the room's state and the feed)."""
    if ref is None:
        return None
    found = await (bag_deals(conn, room_id, ref.id) if ref.kind == DEAL else bag_items(conn, room_id, ref.id))
    return found[0] if found else None


async def _bag(conn: asyncpg.Connection, room_id: str) -> Bag:
    items: list[BagItem | BagDeal] = [*await bag_items(conn, room_id), *await bag_deals(conn, room_id)]
    items.sort(key=lambda entry: entry.position)
    return Bag(
        items=items,
        pinned_product_id=next((i.product_id for i in items if isinstance(i, BagItem) and i.pinned), None),
    )


async def _bag_changed(conn: asyncpg.Connection, room_id: str) -> None:
    refs = await store.bag.bag_refs(conn, room_id)
    # `product_ids` as before deals could be in a bag; `items` is the whole bag in order.
    data = {"product_ids": [r.id for r in refs if r.kind == PRODUCT], "items": [r.wire() for r in refs]}
    await store.feed.emit(conn, room_id, domain.BAG_CHANGED, data)


async def _pin_changed(conn: asyncpg.Connection, room_id: str, ref: BagRef | None) -> None:
    entry = msgspec.to_builtins(await bag_entry(conn, room_id, ref))
    product, deal = (entry, None) if ref is not None and ref.kind == PRODUCT else (None, entry)
    data = {
        "product_id": ref.id if ref is not None and ref.kind == PRODUCT else None,
        "product": product,
        "deal_id": ref.id if ref is not None and ref.kind == DEAL else None,
        "deal": deal,
    }
    await store.feed.emit(conn, room_id, domain.PIN_CHANGED, data)


async def add_to_bag(
    runtime: Runtime, caller: Principal, room_id: str, product_id: str | None, deal_id: str | None
) -> tuple[BagEntry, bool]:
    """Link a product or a deal (exactly one) to the room; (entry, created) — one already there stays where it is."""
    ref = domain.bag_ref(product_id, deal_id)
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        if ref.kind == DEAL:
            domain.ensure_deal_fits_room(room, await store.deals.fetch_deal(conn, ref.id))
        else:
            domain.ensure_product_fits_room(room, await store.bag.fetch_product(conn, ref.id))
        existing = await store.bag.fetch_bag_entry(conn, room.room_id, ref)
        if existing is not None:
            return existing, False
        entry = await store.bag.insert_bag_entry(conn, room.room_id, ref, runtime.clock.now())
        await _bag_changed(conn, room.room_id)
        return entry, True


async def remove_from_bag(runtime: Runtime, caller: Principal, room_id: str, kind: str, entry_id: str) -> None:
    """Unlink a product or a deal; if it was pinned, nothing is pinned any more."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        parsed = canonical_uuid(entry_id)
        ref = BagRef(kind, parsed) if parsed is not None else None
        if ref is None or await store.bag.fetch_bag_entry(conn, room.room_id, ref) is None:
            raise BagItemNotFound(kind)
        if await store.rooms.pinned(conn, room.room_id) == ref:
            await store.rooms.set_pin(conn, room.room_id, None)
            await _pin_changed(conn, room.room_id, None)
        await store.bag.delete_bag_entry(conn, room.room_id, ref)
        await _bag_changed(conn, room.room_id)


async def reorder_bag(
    runtime: Runtime,
    caller: Principal,
    room_id: str,
    product_ids: list[str] | None,
    items: list[tuple[str | None, str | None]] | None,
) -> Bag:
    """Put the bag in the order of `product_ids` (products only) or `items` (product or deal ids): every entry of
    the bag exactly once."""
    asked = domain.bag_order(product_ids, items)
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        current = await store.bag.bag_refs(conn, room.room_id)
        domain.ensure_bag_order(current, asked, by_items=items is not None)
        if asked != current:
            await store.bag.reorder_bag(conn, room.room_id, asked)
            await _bag_changed(conn, room.room_id)
        return await _bag(conn, room.room_id)


async def pin(runtime: Runtime, caller: Principal, room_id: str, said: dict[str, str | None]) -> Pin:
    """Pin the product or the deal of the bag `said` names (`product_id` or `deal_id`; null unpins) for every
    viewer to see."""
    ref = domain.pin_target(said)
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        if ref is not None:
            domain.ensure_in_bag(await store.bag.bag_refs(conn, room.room_id), ref)
        if await store.rooms.set_pin(conn, room.room_id, ref):
            await _pin_changed(conn, room.room_id, ref)
        return Pin(
            room_id=room.room_id,
            product_id=ref.id if ref is not None and ref.kind == PRODUCT else None,
            deal_id=ref.id if ref is not None and ref.kind == DEAL else None,
        )


async def get_bag(runtime: Runtime, room_id: str) -> Bag:
    """The room's bag in order, with prices, stock state, deals on sale or not, and what is pinned; public."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        return await _bag(conn, room.room_id)
