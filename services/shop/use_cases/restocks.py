"""Units back on hand after the sale: a cancellation after payment puts back the cancelled units, a return its
restockable ones. Each line once, however often (or under whatever event id) its fact arrives."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from libs.bus import add_events
from libs.contracts import OrderCancelledAfterPayment, ReturnReceived
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.shop.domain import restocks as rules
from services.shop.domain.restocks import Restock
from services.shop.domain.stock import StockLevel, stock_changed
from services.shop.store import catalogue as catalogue_store
from services.shop.store import restocks as store

log = logging.getLogger(__name__)


async def put_back_cancelled(runtime: Runtime, conn: asyncpg.Connection, event: OrderCancelledAfterPayment) -> None:
    """The cancelled units of a paid order back on hand, flash-sale ones too (to the SKU's stock, not the sale)."""
    tag({names.ORDER_ID: event.order_id, names.MERCHANT_ID: event.merchant_id})
    lines, dropped = rules.cancelled_units(event.cancelled_lines)
    for line in dropped:
        log.warning("cancelled order %s: line %d names no units of ours: %r", event.order_id, line.line_no, line)
    lines = await _ours(conn, event.merchant_id, event.order_id, lines)
    if lines:
        # The units a recorded shortfall says were never taken stay where they are: nothing to put back.
        short = await store.shortfalls(conn, event.order_id, sorted({line.sku_id for line in lines}))
        lines = rules.less_shortfalls(lines, short)
    await _put_back(
        conn,
        runtime.clock.now(),
        lines,
        reason=rules.CANCELLED,
        ref=event.grant_id,
        order_id=event.order_id,
        by="orders",
    )


async def put_back_returned(runtime: Runtime, conn: asyncpg.Connection, event: ReturnReceived) -> None:
    """A case's returned units that are fit to sell again back on hand; the damaged rest stays off."""
    tag({names.ORDER_ID: event.order_id, names.MERCHANT_ID: event.merchant_id})
    lines, dropped = rules.returned_units(event.lines)
    for line in dropped:
        log.warning("return of case %s: line %d names no units of ours: %r", event.case_id, line.line_no, line)
    lines = await _ours(conn, event.merchant_id, event.order_id, lines)
    await _put_back(
        conn,
        runtime.clock.now(),
        lines,
        reason=rules.RETURNED,
        ref=event.case_id,
        order_id=event.order_id,
        by="aftersales",
    )


async def _ours(conn: asyncpg.Connection, merchant_id: str, order_id: str, lines: list[Restock]) -> list[Restock]:
    """The lines naming a SKU of this merchant; any other is skipped with a warning (nothing of ours to put back)."""
    if not lines:
        return lines
    merchant_id = canonical_uuid(merchant_id) or merchant_id
    facts = await catalogue_store.sku_facts(conn, sorted({line.sku_id for line in lines}))
    kept = []
    for line in lines:
        found = facts.get(line.sku_id)
        if found is None or found.merchant_id != merchant_id:
            log.warning(
                "order %s: line %d names SKU %s, which merchant %s does not have; its %d units are not put back",
                order_id,
                line.line_no,
                line.sku_id,
                merchant_id,
                line.restock,
            )
            continue
        kept.append(line)
    return kept


async def _put_back(
    conn: asyncpg.Connection,
    now: datetime,
    lines: Sequence[Restock],
    *,
    reason: str,
    ref: str,
    order_id: str,
    by: str,
) -> None:
    levels: list[StockLevel] = []
    for line in lines:
        first = await store.claim(
            conn,
            reason=reason,
            ref=ref,
            line_no=line.line_no,
            order_id=order_id,
            sku_id=line.sku_id,
            quantity=line.quantity,
            restocked=line.restock,
            now=now,
        )
        if not first:
            log.info("%s %s: line %d was put back before", reason, ref, line.line_no)
            continue
        if not line.restock:
            continue
        level = await store.put_back(conn, line.sku_id, line.restock)
        await store.record_change(
            conn,
            line.sku_id,
            old_on_hand=level.stock_on_hand - line.restock,
            new_on_hand=level.stock_on_hand,
            by=by,
            reason=reason,
            ref=ref,
            now=now,
        )
        levels.append(level)
    if levels:
        await add_events(conn, *(stock_changed(level) for level in levels))
