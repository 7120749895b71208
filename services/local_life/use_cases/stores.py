"""A merchant's stores and their clerks; and the clerk a clerk's token proves (the start of every redemption)."""

from __future__ import annotations

import uuid
from typing import Any

from libs.auth import Principal
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.local_life.domain import Clerk, after_list, check_opening_hours, check_timezone, list_cursor
from services.local_life.domain.geo import coordinate
from services.local_life.domain.refusals import ClerkNotFound, NotAClerkHere, StoreNotFound
from services.local_life.store import stores as store
from services.local_life.views import ClerkList, ClerkMe, ClerkView, StorePage, StoreView


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    checked = dict(fields)
    for name in ("lat", "lng"):
        if name in checked:
            checked[name] = coordinate(checked[name])
    if "opening_hours" in checked:
        checked["opening_hours"] = check_opening_hours(checked["opening_hours"])
    if "timezone" in checked:
        checked["timezone"] = check_timezone(checked["timezone"])
    return checked


async def create_store(runtime: Runtime, merchant_id: str, fields: dict[str, Any]) -> StoreView:
    """A new store of the merchant's (open unless said otherwise)."""
    checked = _checked(fields)
    async with runtime.db.transaction() as conn:
        return await store.insert_store(
            conn, store_id=str(uuid.uuid4()), merchant_id=merchant_id, fields=checked, now=runtime.clock.now()
        )


async def store_of(runtime: Runtime, merchant_id: str, store_id: str) -> StoreView:
    """One of the merchant's stores (another merchant's is 404)."""
    found = canonical_uuid(store_id)
    if found is None:
        raise StoreNotFound()
    async with runtime.db.transaction() as conn:
        view = await store.store_of(conn, found, merchant_id)
    if view is None:
        raise StoreNotFound()
    return view


async def change_store(runtime: Runtime, merchant_id: str, store_id: str, changes: dict[str, Any]) -> StoreView:
    """Change a store's details or open and close it."""
    found = canonical_uuid(store_id)
    if found is None:
        raise StoreNotFound()
    checked = _checked(changes)
    async with runtime.db.transaction() as conn:
        view = await store.update_store(conn, found, merchant_id, checked, runtime.clock.now())
    if view is None:
        raise StoreNotFound()
    return view


async def stores_page(runtime: Runtime, merchant_id: str, *, limit: int, cursor: str | None) -> StorePage:
    """The merchant's stores, newest first."""
    after = after_list(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        items = await store.stores_page(conn, merchant_id, limit=limit + 1, after=after)
    more = len(items) > limit
    items = items[:limit]
    next_cursor = list_cursor(items[-1].created_at, items[-1].store_id) if more else None
    return StorePage(items=items, next_cursor=next_cursor)


async def add_clerk(runtime: Runtime, merchant_id: str, store_id: str, *, clerk_id: str, name: str) -> ClerkView:
    """A clerk at one of the merchant's stores (a removed one comes back)."""
    found = canonical_uuid(store_id)
    if found is None:
        raise StoreNotFound()
    async with runtime.db.transaction() as conn:
        if await store.store_of(conn, found, merchant_id) is None:
            raise StoreNotFound()
        return await store.upsert_clerk(
            conn, store_id=found, merchant_id=merchant_id, clerk_id=clerk_id, name=name, now=runtime.clock.now()
        )


async def clerks_of(runtime: Runtime, merchant_id: str, store_id: str) -> ClerkList:
    """The store's clerks, active ones first."""
    found = canonical_uuid(store_id)
    if found is None:
        raise StoreNotFound()
    async with runtime.db.transaction() as conn:
        if await store.store_of(conn, found, merchant_id) is None:
            raise StoreNotFound()
        return ClerkList(items=await store.clerks_of(conn, found))


async def remove_clerk(runtime: Runtime, merchant_id: str, store_id: str, clerk_id: str) -> None:
    """The clerk no longer works there: their token stops proving anything (kept for the record)."""
    found = canonical_uuid(store_id)
    if found is None:
        raise StoreNotFound()
    async with runtime.db.transaction() as conn:
        if await store.store_of(conn, found, merchant_id) is None:
            raise StoreNotFound()
        if not await store.remove_clerk(conn, found, clerk_id, runtime.clock.now()):
            raise ClerkNotFound()


async def clerk_at(runtime: Runtime, caller: Principal) -> Clerk:
    """The active clerk a clerk's token proves: its store exists, has this `sub` as an active clerk, and (when the
    token names a merchant) is that merchant's. 403 `not-a-clerk-here` otherwise."""
    clerk, _ = await _clerk_and_store(runtime, caller)
    return Clerk(clerk_id=clerk.clerk_id, name=clerk.name, store_id=clerk.store_id, merchant_id=clerk.merchant_id)


async def clerk_me(runtime: Runtime, caller: Principal) -> ClerkMe:
    """The clerk and their store, as `clerk_at` proves them."""
    clerk, place = await _clerk_and_store(runtime, caller)
    return ClerkMe(clerk=clerk, store=place)


async def _clerk_and_store(runtime: Runtime, caller: Principal) -> tuple[ClerkView, StoreView]:
    store_id = canonical_uuid(caller.store_id) if caller.role == "clerk" else None
    if store_id is None:
        raise NotAClerkHere()
    async with runtime.db.transaction() as conn:
        place = await store.store_of(conn, store_id)
        clerk = await store.active_clerk(conn, store_id, caller.sub) if place is not None else None
    if place is None or clerk is None:
        raise NotAClerkHere()
    if caller.merchant_id is not None and canonical_uuid(caller.merchant_id) != place.merchant_id:
        raise NotAClerkHere("this token's merchant is not its store's")
    return clerk, place
