"""Replacement stock for after-sales exchanges (request/reply): check a replacement, take its units off hand once,
give them back once if the case turns into a refund."""

from __future__ import annotations

from libs.bus import add_events
from libs.contracts import ExchangeStock, ExchangeStockReply
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.shop.domain import exchanges as rules
from services.shop.domain.exchanges import ExchangeRefused, Replacement
from services.shop.domain.stock import SkuFacts, stock_changed
from services.shop.store import catalogue as catalogue_store
from services.shop.store import exchanges as store
from services.shop.store import reservations as stock_store
from services.shop.store import restocks as restock_store

# Who the SKU's history says moved the units (the merchant's own edits carry their id).
_BY = "aftersales"


class _TwinCommitted(Exception):
    """Another request with the same exchange id wrote first."""


def _too_late(runtime: Runtime, request: ExchangeStock) -> bool:
    return request.answer_by is not None and runtime.clock.now() > request.answer_by


def _gave_up(request: ExchangeStock) -> ExchangeRefused:
    return ExchangeRefused(
        "too_late",
        f"exchange {request.exchange_id}: the caller stopped waiting at {request.answer_by}; nothing changed",
    )


async def exchange(runtime: Runtime, request: ExchangeStock) -> ExchangeStockReply:
    """Answer one exchange request: `check`, `take` or `release`; a repeat gets the same answer, changing nothing."""
    tag({names.MERCHANT_ID: request.merchant_id, names.SKU_ID: request.sku_id})
    try:
        wanted = rules.check_request(request)
        # Checked first too, so a backlog of abandoned requests costs no locks on hot SKUs.
        if _too_late(runtime, request):
            raise _gave_up(request)
        facts = (await catalogue_store.sku_facts(runtime.db.pool, [wanted.sku_id])).get(wanted.sku_id)
        if request.action == rules.RELEASE:
            return await _release(runtime, request, wanted, facts)
        rules.ensure_replacement(wanted, facts)
        if request.action == rules.CHECK:
            available = await stock_store.available(runtime.db.pool, wanted.sku_id)
            rules.ensure_available(wanted, available)
            return ExchangeStockReply(ok=True, available=available)
        return await _take(runtime, request, wanted)
    except ExchangeRefused as refused:
        return refused.reply()


async def _take(runtime: Runtime, request: ExchangeStock, wanted: Replacement) -> ExchangeStockReply:
    """The replacement's units off hand once: a conditional update on available stock, keyed by the exchange id."""
    found = await store.stored(runtime.db.pool, wanted.exchange_id)
    if found is not None:
        return rules.replay_take(found, wanted)
    now = runtime.clock.now()
    try:
        async with runtime.db.transaction() as conn:
            if not await store.open_taken(conn, wanted, now):
                raise _TwinCommitted
            taken = await stock_store.take_available(conn, wanted.sku_id, wanted.quantity)
            if taken is None:
                # Raising rolls the claim back too: a later take of this id may try again.
                raise rules.insufficient(wanted, await stock_store.available(conn, wanted.sku_id))
            await restock_store.record_change(
                conn,
                wanted.sku_id,
                old_on_hand=taken.stock_on_hand + wanted.quantity,
                new_on_hand=taken.stock_on_hand,
                by=_BY,
                reason="exchange_taken",
                ref=wanted.exchange_id,
                now=now,
            )
            await add_events(conn, stock_changed(taken))
            # Last thing before COMMIT (waiting for the SKU's row lock may have taken long): raising rolls it all back.
            if _too_late(runtime, request):
                raise _gave_up(request)
    except _TwinCommitted:
        found = await store.stored(runtime.db.pool, wanted.exchange_id)
        assert found is not None
        return rules.replay_take(found, wanted)
    return ExchangeStockReply(ok=True, available=taken.stock_on_hand - taken.stock_reserved)


async def _release(
    runtime: Runtime, request: ExchangeStock, wanted: Replacement, facts: SkuFacts | None
) -> ExchangeStockReply:
    """A taken exchange's units back on hand once; an id never taken is remembered as released (a take arriving
    after it takes nothing) and answered ok, as is a repeat."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        found = await store.lock(conn, wanted.exchange_id)
        if found is None:
            if not _names_a_replacement(wanted, facts) or await store.open_released(conn, wanted, now):
                return ExchangeStockReply(ok=True)
            # A take of this id committed meanwhile: release it.
            found = await store.lock(conn, wanted.exchange_id)
            assert found is not None
        if not rules.same_exchange(found, wanted):
            raise rules.conflict(found)
        if found.status == rules.RELEASED:
            return ExchangeStockReply(ok=True)
        if not await store.mark_released(conn, wanted.exchange_id, now):
            raise AssertionError(f"exchange {wanted.exchange_id} is locked and taken, yet not released")
        level = await restock_store.put_back(conn, wanted.sku_id, wanted.quantity)
        await restock_store.record_change(
            conn,
            wanted.sku_id,
            old_on_hand=level.stock_on_hand - wanted.quantity,
            new_on_hand=level.stock_on_hand,
            by=_BY,
            reason="exchange_released",
            ref=wanted.exchange_id,
            now=now,
        )
        await add_events(conn, stock_changed(level))
        if _too_late(runtime, request):
            raise _gave_up(request)
    return ExchangeStockReply(ok=True, available=level.stock_on_hand - level.stock_reserved)


def _names_a_replacement(wanted: Replacement, facts: SkuFacts | None) -> bool:
    try:
        rules.ensure_replacement(wanted, facts)
    except ExchangeRefused:
        return False
    return True
