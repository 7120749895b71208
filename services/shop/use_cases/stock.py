"""Stock use cases: reserve for a checkout (request/reply), commit when paid, release when cancelled, expired or
abandoned."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

import asyncpg

from libs.bus import add_events
from libs.contracts import (
    CheckoutAbandoned,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ReserveStock,
    ReserveStockReply,
    StockCommitted,
    StockLine,
    StockReleased,
)
from libs.runtime import Runtime
from libs.scheduler import cancel, schedule
from libs.telemetry import names, tag
from services.shop.domain import allocations as sale_rules
from services.shop.domain import reservations as rules
from services.shop.domain.reservations import ReservationRefused
from services.shop.domain.stock import StockLevel, stock_changed
from services.shop.store import cart as cart_store
from services.shop.store import catalogue as catalogue_store
from services.shop.store import reservations as store
from services.shop.use_cases import allocations

log = logging.getLogger(__name__)

EXPIRY_JOB = "reservation_expiry"


class _TwinCommitted(Exception):
    """Another request for the same checkout reserved first."""


def _too_late(runtime: Runtime, request: ReserveStock) -> bool:
    """The caller has stopped waiting: whatever we hold now would sit unused until `hold_until`."""
    return request.answer_by is not None and runtime.clock.now() > request.answer_by


def _gave_up(request: ReserveStock) -> ReservationRefused:
    return ReservationRefused(
        "too_late", f"checkout {request.checkout_id}: the caller stopped waiting at {request.answer_by}; nothing held"
    )


async def reserve(runtime: Runtime, request: ReserveStock) -> ReserveStockReply:
    """Hold every line of a checkout or none; a repeat of the same checkout gets the same lines back."""
    tag({names.CHECKOUT_ID: request.checkout_id, names.BUYER_ID: request.buyer_id})
    try:
        # Checked first too, so a backlog of abandoned requests costs no locks on hot SKUs.
        if _too_late(runtime, request):
            raise _gave_up(request)
        found = await store.stored(runtime.db.pool, request.checkout_id)
        if found is not None:
            return rules.replay(found, request.checkout_id, request.buyer_id, runtime.clock.now())
        wanted = rules.merge_items(request.items)
        async with runtime.db.transaction() as conn:
            if not await store.open_reservation(
                conn, request.checkout_id, request.buyer_id, request.hold_until, runtime.clock.now()
            ):
                raise _TwinCommitted
            sku_ids = [w.sku_id for w in wanted]
            facts = await catalogue_store.sku_facts(conn, sku_ids)
            lines = rules.price_lines(wanted, facts, await store.cart_sources(conn, request.buyer_id, sku_ids))
            levels: list[StockLevel] = []
            # A fixed order (by SKU id) for the row locks: two checkouts sharing SKUs never deadlock.
            for want in sorted(wanted, key=lambda w: w.sku_id):
                held = await store.hold_units(conn, want.sku_id, want.quantity)
                if held is None:
                    left = await store.available(conn, want.sku_id)
                    raise ReservationRefused(
                        "insufficient_stock",
                        f"items[{want.index}]: SKU {want.sku_id} has {left} available, {want.quantity} requested",
                        want.index,
                    )
                levels.append(held)
            await store.insert_lines(conn, request.checkout_id, lines)
            await add_events(conn, *(stock_changed(level) for level in levels))
            # Release by ourselves if neither payment nor cancellation arrives (e.g. orders crashed).
            await schedule(conn, EXPIRY_JOB, request.checkout_id, request.hold_until)
            # Last thing before COMMIT (waiting for row locks may have taken long): raising rolls it all back.
            if _too_late(runtime, request):
                raise _gave_up(request)
    except ReservationRefused as refused:
        return refused.reply()
    except _TwinCommitted:
        found = await store.stored(runtime.db.pool, request.checkout_id)
        assert found is not None
        return rules.replay(found, request.checkout_id, request.buyer_id, runtime.clock.now())
    return ReserveStockReply(ok=True, lines=lines)


async def attach_order(runtime: Runtime, conn: asyncpg.Connection, event: OrderPlaced) -> None:
    """An order now owns its merchant's lines of the checkout; what was ordered leaves the buyer's cart."""
    tag({names.ORDER_ID: event.order_id, names.CHECKOUT_ID: event.checkout_id, names.MERCHANT_ID: event.merchant_id})
    # Flash-sale lines have no reservation (their units sit in the sale's allocation) and never came from the cart.
    sku_ids = rules.skus_of(event.lines)
    if not sku_ids:
        return
    attached = await store.attach_order(conn, event.checkout_id, event.merchant_id, sku_ids, event.order_id)
    if attached < len(sku_ids):
        log.warning(
            "order %s: %d of %d lines have no reservation here", event.order_id, len(sku_ids) - attached, len(sku_ids)
        )
    await cart_store.remove(conn, event.buyer_id, sku_ids)


async def commit_paid(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """The paid order's units leave stock for good, once, however often the event arrives.

    Each line by its kind: reservation lines from the checkout's hold, flash-sale lines from their sale's allocation.
    """
    now = runtime.clock.now()
    tag({names.ORDER_ID: event.order_id, names.CHECKOUT_ID: event.checkout_id, names.MERCHANT_ID: event.merchant_id})
    committed: list[StockLine] = []
    levels: list[StockLevel] = []
    sku_ids = rules.skus_of(event.lines)
    if sku_ids:
        committed, levels = await _commit_reserved(conn, now, event, sku_ids)
    sold = sale_rules.sold_from_sales(event.lines)
    if sold:
        from_sales, sale_levels = await allocations.commit_sold(conn, now, event, sold)
        committed += from_sales
        levels += sale_levels
    if committed:
        await add_events(
            conn,
            StockCommitted(
                order_id=event.order_id, checkout_id=event.checkout_id, merchant_id=event.merchant_id, lines=committed
            ),
            *(stock_changed(level) for level in levels),
        )


async def _commit_reserved(
    conn: asyncpg.Connection, now: datetime, event: OrderPaid, sku_ids: list[str]
) -> tuple[list[StockLine], list[StockLevel]]:
    committed: list[StockLine] = []
    levels: list[StockLevel] = []
    if not await store.lock_reservation(conn, event.checkout_id):
        log.warning("paid order %s: checkout %s was never reserved here", event.order_id, event.checkout_id)
        return committed, levels
    common = dict(order_id=event.order_id, now=now)
    for line in await store.move_lines(
        conn, event.checkout_id, sku_ids, from_status="held", to_status="committed", **common
    ):
        levels.append(await store.commit_units(conn, line.sku_id, line.quantity))
        committed.append(StockLine(sku_id=line.sku_id, quantity=line.quantity))
    # Paid after the hold lapsed (expiry or a cancellation raced the payment): the buyer paid, so the
    # units must still leave stock, but never by breaking 0 <= reserved <= on_hand. Take them from
    # what is available if there is enough; otherwise the units were sold again meanwhile, which is
    # an oversell: record it in stock_shortfalls for the merchant to resolve and leave stock alone.
    for line in await store.move_lines(
        conn, event.checkout_id, sku_ids, from_status="released", to_status="committed", **common
    ):
        taken = await store.take_available(conn, line.sku_id, line.quantity)
        if taken is None:
            await store.record_shortfall(conn, event.checkout_id, event.order_id, line, now)
            log.warning(
                "oversold: order %s paid for %d of SKU %s after its hold lapsed, and stock ran out meanwhile",
                event.order_id,
                line.quantity,
                line.sku_id,
            )
            continue
        levels.append(taken)
        committed.append(StockLine(sku_id=line.sku_id, quantity=line.quantity))
    if not await store.has_held_lines(conn, event.checkout_id):
        await cancel(conn, EXPIRY_JOB, event.checkout_id)
    return committed, levels


async def release_cancelled(runtime: Runtime, conn: asyncpg.Connection, event: OrderCancelled) -> None:
    """A cancelled order's held units go back to available stock, once.

    Flash-sale lines are not ours to release: live decides whether such a unit goes back to the sale
    or, with FlashSaleUnitsReturned, to available stock.
    """
    now = runtime.clock.now()
    tag({names.ORDER_ID: event.order_id, names.CHECKOUT_ID: event.checkout_id, names.MERCHANT_ID: event.merchant_id})
    sku_ids = rules.skus_of(event.lines)
    if not sku_ids or not await store.lock_reservation(conn, event.checkout_id):
        return
    released = await store.move_lines(
        conn,
        event.checkout_id,
        sku_ids,
        from_status="held",
        to_status="released",
        order_id=event.order_id,
        now=now,
    )
    if released:
        levels = [await store.release_units(conn, line.sku_id, line.quantity) for line in released]
        await add_events(
            conn,
            StockReleased(
                checkout_id=event.checkout_id,
                order_id=event.order_id,
                reason=event.reason,
                lines=[StockLine(sku_id=line.sku_id, quantity=line.quantity) for line in released],
            ),
            *(stock_changed(level) for level in levels),
        )
    if not await store.has_held_lines(conn, event.checkout_id):
        await cancel(conn, EXPIRY_JOB, event.checkout_id)


async def expire(runtime: Runtime, conn: asyncpg.Connection, checkout_id: str) -> None:
    """The hold ran out: release whatever is still held, one StockReleased per order (or none yet)."""
    now = runtime.clock.now()
    tag({names.CHECKOUT_ID: checkout_id})
    if not await store.lock_reservation(conn, checkout_id):
        return
    await _release_held(conn, now, checkout_id, "hold_expired")
    await store.mark_expired(conn, checkout_id)


async def release_abandoned(runtime: Runtime, conn: asyncpg.Connection, event: CheckoutAbandoned) -> None:
    """Orders refused the checkout after we reserved its stock: what is still held goes back now, once.

    An unknown checkout, or one whose lines were committed or released already, changes nothing. A replay of the
    checkout then answers `expired`, as for any released hold.
    """
    now = runtime.clock.now()
    tag({names.CHECKOUT_ID: event.checkout_id, names.BUYER_ID: event.buyer_id})
    if not await store.lock_reservation(conn, event.checkout_id):
        return
    log.info("checkout %s abandoned by orders (%s): releasing its hold", event.checkout_id, event.reason)
    await _release_held(conn, now, event.checkout_id, "checkout_abandoned")
    await cancel(conn, EXPIRY_JOB, event.checkout_id)


async def _release_held(conn: asyncpg.Connection, now: datetime, checkout_id: str, reason: str) -> None:
    """Every still-held line of a locked reservation back to available stock, one StockReleased per order."""
    released = await store.move_lines(
        conn, checkout_id, None, from_status="held", to_status="released", order_id=None, now=now
    )
    levels = [await store.release_units(conn, line.sku_id, line.quantity) for line in released]
    by_order: dict[str | None, list[StockLine]] = defaultdict(list)
    for line in released:
        by_order[line.order_id].append(StockLine(sku_id=line.sku_id, quantity=line.quantity))
    await add_events(
        conn,
        *(
            StockReleased(checkout_id=checkout_id, order_id=order_id, reason=reason, lines=lines)
            for order_id, lines in by_order.items()
        ),
        *(stock_changed(level) for level in levels),
    )
