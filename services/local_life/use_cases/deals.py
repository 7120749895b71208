"""A merchant's deals: drafted (Idempotency-Key honoured), changed while a draft, published, ended."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from libs.auth import Principal
from libs.bus import add_events
from libs.contracts import DealEnded, DealPublished
from libs.db import write_once
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from services.local_life.domain import (
    DealState,
    DealTerms,
    after_list,
    check_store_ids,
    check_terms,
    ensure_draft,
    ensure_publishable,
    list_cursor,
)
from services.local_life.domain.refusals import DealHasNoStore, DealNotFound, UnknownStore
from services.local_life.store import deals as store
from services.local_life.store import stores as stores_store
from services.local_life.views import DealPage, DealView


async def _check_stores(conn: asyncpg.Connection, merchant_id: str, store_ids: list[str], all_stores: bool) -> None:
    check_store_ids(store_ids, all_stores)
    known = await stores_store.known_stores(conn, merchant_id, store_ids)
    for index, store_id in enumerate(store_ids):
        if store_id not in known:
            raise UnknownStore(index)


async def create_deal(
    runtime: Runtime,
    caller: Principal,
    merchant_id: str,
    *,
    terms: DealTerms,
    store_ids: list[str],
    request: object,
    key: str | None,
) -> DealView:
    """A draft deal; a retry with the same Idempotency-Key answers the same deal."""
    checked = check_terms(terms)
    deal_id = derived_id("deal", merchant_id, key) if key else str(uuid.uuid4())

    async def effect(conn: asyncpg.Connection) -> DealView:
        await _check_stores(conn, merchant_id, store_ids, checked.all_stores)
        await store.insert_deal(
            conn, deal_id=deal_id, merchant_id=merchant_id, terms=checked, store_ids=store_ids, now=runtime.clock.now()
        )
        return await store.deal_view(conn, deal_id, merchant_id=merchant_id)  # type: ignore[return-value]

    stored = await write_once(runtime.db, caller=caller, scope="create_deal", key=key, request=request, effect=effect)
    return msgspec.convert(stored, DealView, strict=False)


async def _locked(conn: asyncpg.Connection, merchant_id: str, deal_id: str) -> DealState:
    found = canonical_uuid(deal_id)
    state = await store.deal_state(conn, found, merchant_id, lock=True) if found else None
    if state is None:
        raise DealNotFound()
    return state


async def change_deal(runtime: Runtime, merchant_id: str, deal_id: str, changes: dict[str, Any]) -> DealView:
    """Change a draft's terms or stores (a published deal's do not change: a new deal does)."""
    async with runtime.db.transaction() as conn:
        state = await _locked(conn, merchant_id, deal_id)
        ensure_draft(state)
        term_changes = {k: v for k, v in changes.items() if k in DealTerms.__struct_fields__}
        terms = check_terms(msgspec.structs.replace(state.terms, **term_changes))
        store_ids = changes.get("store_ids", state.store_ids)
        if "store_ids" in changes or terms.all_stores != state.terms.all_stores:
            await _check_stores(conn, merchant_id, store_ids, terms.all_stores)
        now = runtime.clock.now()
        await store.update_terms(conn, state.deal_id, terms, now)
        if "store_ids" in changes:
            await store.set_stores(conn, state.deal_id, store_ids)
        return await store.deal_view(conn, state.deal_id, merchant_id=merchant_id)  # type: ignore[return-value]


async def publish_deal(runtime: Runtime, merchant_id: str, deal_id: str) -> DealView:
    """draft → published: on sale at its open stores; again → the same deal."""
    async with runtime.db.transaction() as conn:
        state = await _locked(conn, merchant_id, deal_id)
        now = runtime.clock.now()
        ensure_publishable(state, now)
        if state.status == "draft":
            if not await store.has_open_store(conn, state.deal_id):
                raise DealHasNoStore()
            await store.publish(conn, state.deal_id, now)
            await add_events(conn, _announced(DealPublished, state, now))
        return await store.deal_view(conn, state.deal_id, merchant_id=merchant_id)  # type: ignore[return-value]


async def end_deal(runtime: Runtime, merchant_id: str, deal_id: str) -> DealView:
    """Off sale for good (a draft may be ended too); again → the same deal. Vouchers sold stay good."""
    async with runtime.db.transaction() as conn:
        state = await _locked(conn, merchant_id, deal_id)
        now = runtime.clock.now()
        await store.end(conn, state.deal_id, now)
        if state.status == "published":
            await add_events(conn, _announced(DealEnded, state, now))
        return await store.deal_view(conn, state.deal_id, merchant_id=merchant_id)  # type: ignore[return-value]


def _announced(
    kind: type[DealPublished] | type[DealEnded], state: DealState, now: datetime
) -> DealPublished | DealEnded:
    """The deal as buyers (and live's bag) see it."""
    terms = state.terms
    return kind(
        deal_id=state.deal_id,
        merchant_id=state.merchant_id,
        title=terms.title,
        price_minor=terms.price_minor,
        original_value_minor=terms.original_value_minor,
        currency=terms.currency,
        vouchers_per_purchase=terms.vouchers_per_purchase,
        team_size=terms.team_size,
        valid_until=terms.valid_until,
        occurred_at=now,
    )


async def deal_of(runtime: Runtime, merchant_id: str, deal_id: str) -> DealView:
    """One of the merchant's deals, in any status (another merchant's is 404)."""
    found = canonical_uuid(deal_id)
    async with runtime.db.transaction() as conn:
        view = await store.deal_view(conn, found, merchant_id=merchant_id) if found else None
    if view is None:
        raise DealNotFound()
    return view


async def deals_page(
    runtime: Runtime, merchant_id: str, *, status: str | None, limit: int, cursor: str | None
) -> DealPage:
    """The merchant's deals, newest first."""
    after = after_list(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        items = await store.deals_page(conn, merchant_id, status=status, limit=limit + 1, after=after)
    more = len(items) > limit
    items = items[:limit]
    return DealPage(items=items, next_cursor=list_cursor(items[-1].created_at, items[-1].deal_id) if more else None)
