"""Flash-sale stock: allocate units to a sale (request/reply), commit them when paid, take back what live returns."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from libs.bus import add_events
from libs.contracts import AllocateStock, AllocateStockReply, FlashSaleUnitsReturned, OrderPaid, StockLine
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.shop.domain import allocations as rules
from services.shop.domain.allocations import AllocationBroken, AllocationRefused, SoldFromSale, StoredAllocation
from services.shop.domain.stock import SkuFacts, StockLevel, stock_changed
from services.shop.store import allocations as store
from services.shop.store import catalogue as catalogue_store
from services.shop.store import reservations as stock_store
from services.shop.store.reservations import MovedLine

log = logging.getLogger(__name__)


class _TwinCommitted(Exception):
    """Another request for the same allocation id took the stock first."""


def _too_late(runtime: Runtime, request: AllocateStock) -> bool:
    return request.answer_by is not None and runtime.clock.now() > request.answer_by


def _gave_up(request: AllocateStock) -> AllocationRefused:
    return AllocationRefused(
        "too_late",
        f"allocation {request.allocation_id}: the caller stopped waiting at {request.answer_by}; nothing held",
    )


async def allocate(runtime: Runtime, request: AllocateStock) -> AllocateStockReply:
    """Take `quantity` units of a merchant's SKU out of available stock for a sale; a repeat gets the same answer."""
    tag({names.MERCHANT_ID: request.merchant_id, names.SKU_ID: request.sku_id})
    try:
        sku_id, merchant_id = rules.check_allocation(request)
        # Checked first too, so a backlog of abandoned requests costs no locks on hot SKUs.
        if _too_late(runtime, request):
            raise _gave_up(request)
        facts = (await catalogue_store.sku_facts(runtime.db.pool, [sku_id])).get(sku_id)
        if facts is None or not facts.published or facts.merchant_id != merchant_id:
            # Another merchant's SKU looks exactly like a missing one: nothing to learn by probing.
            raise AllocationRefused("unknown_sku", f"merchant {request.merchant_id} has no SKU {sku_id} for sale")
        found = await store.stored(runtime.db.pool, request.allocation_id)
        if found is not None:
            return _replay(found, request, sku_id, merchant_id, facts)
        async with runtime.db.transaction() as conn:
            if not await store.open_allocation(
                conn, request.allocation_id, sku_id, merchant_id, request.quantity, runtime.clock.now()
            ):
                raise _TwinCommitted
            held = await stock_store.hold_units(conn, sku_id, request.quantity)
            if held is None:
                left = await stock_store.available(conn, sku_id)
                raise AllocationRefused(
                    "insufficient_stock",
                    f"SKU {sku_id} has {left} available, {request.quantity} requested",
                    available=left,
                )
            await add_events(conn, stock_changed(held))
            # Last thing before COMMIT (waiting for the SKU's row lock may have taken long): raising rolls it all back.
            if _too_late(runtime, request):
                raise _gave_up(request)
    except AllocationRefused as refused:
        return refused.reply()
    except _TwinCommitted:
        found = await store.stored(runtime.db.pool, request.allocation_id)
        assert found is not None
        return _replay(found, request, sku_id, merchant_id, facts)
    return rules.allocated_reply(facts)


def _replay(
    found: StoredAllocation, request: AllocateStock, sku_id: str, merchant_id: str, facts: SkuFacts
) -> AllocateStockReply:
    """The answer to a repeated allocate: the same facts for the same ask, a conflict for another."""
    if not rules.same_allocation(found, sku_id, merchant_id, request.quantity):
        return AllocateStockReply(
            ok=False,
            error="allocation_conflict",
            detail=f"allocation {request.allocation_id} already holds other units; a new sale needs a new id",
        )
    return rules.allocated_reply(facts)


async def commit_sold(
    conn: asyncpg.Connection, now: datetime, event: OrderPaid, sold: Sequence[SoldFromSale]
) -> tuple[list[StockLine], list[StockLevel]]:
    """A paid order's flash-sale units leave stock for good, from their sale's allocation, once per order."""
    merchant_id = canonical_uuid(event.merchant_id) or event.merchant_id
    committed: list[StockLine] = []
    levels: list[StockLevel] = []
    for unit in sold:
        if not await store.record_sale(conn, unit.allocation_id, event.order_id, unit.sku_id, unit.quantity, now):
            continue  # this order's units of this sale were taken before (the same fact again)
        if await store.take_committed(conn, unit.allocation_id, unit.sku_id, merchant_id, unit.quantity):
            levels.append(await stock_store.commit_units(conn, unit.sku_id, unit.quantity))
            committed.append(StockLine(sku_id=unit.sku_id, quantity=unit.quantity))
            continue
        # Live admitted more than it was allocated (or named a sale we never allocated): a bug, but the
        # buyer paid. As with a payment after a lapsed hold, take the units from available stock if
        # there are enough, else record the oversell for the merchant; never retry forever.
        taken = await stock_store.take_available(conn, unit.sku_id, unit.quantity)
        if taken is not None:
            await store.mark_sale_source(conn, unit.allocation_id, event.order_id, unit.sku_id, "available")
            levels.append(taken)
            committed.append(StockLine(sku_id=unit.sku_id, quantity=unit.quantity))
            log.warning(
                "paid order %s: sale %s could not cover %d of SKU %s; taken from available stock",
                event.order_id,
                unit.allocation_id,
                unit.quantity,
                unit.sku_id,
            )
            continue
        await store.mark_sale_source(conn, unit.allocation_id, event.order_id, unit.sku_id, "shortfall")
        if await store.sku_exists(conn, unit.sku_id):
            line = MovedLine(unit.sku_id, unit.quantity, merchant_id, event.order_id)
            await stock_store.record_shortfall(conn, event.checkout_id, event.order_id, line, now)
        log.warning(
            "oversold: order %s paid for %d of SKU %s in sale %s, which neither the allocation nor stock could cover",
            event.order_id,
            unit.quantity,
            unit.sku_id,
            unit.allocation_id,
        )
    return committed, levels


async def take_back(runtime: Runtime, conn: asyncpg.Connection, event: FlashSaleUnitsReturned) -> None:
    """Units live gives back leave the sale's allocation and become available again, once."""
    tag({names.MERCHANT_ID: event.merchant_id, names.SKU_ID: event.sku_id})
    sku_id = canonical_uuid(event.sku_id)
    if event.quantity < 1 or sku_id is None:
        raise AllocationBroken(f"sale {event.sale_id}: cannot return {event.quantity} of SKU {event.sku_id!r}")
    merchant_id = canonical_uuid(event.merchant_id) or event.merchant_id
    if not await store.take_released(conn, event.sale_id, sku_id, merchant_id, event.quantity):
        # Applying it would free units that are sold or were never held: refuse, so it is dead-lettered and seen.
        found = await store.stored(conn, event.sale_id)
        raise AllocationBroken(
            f"sale {event.sale_id} returns {event.quantity} of SKU {sku_id} (merchant {event.merchant_id}), "
            f"but its allocation is {found}"
        )
    level = await stock_store.release_units(conn, sku_id, event.quantity)
    await add_events(conn, stock_changed(level))
