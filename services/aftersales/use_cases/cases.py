"""Opening a case (Idempotency-Key required) and reading cases: the buyer's, the merchant's, the operators'."""

from __future__ import annotations

import logging

import msgspec

from libs.auth import Principal
from libs.bus import add_events
from libs.db import write_once
from libs.ids import derived_id, is_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.aftersales import domain
from services.aftersales.adapters import shop
from services.aftersales.domain import Case, CaseUnits, events
from services.aftersales.domain.opening import AskedLine, OrderFacts, check_opening, not_paid
from services.aftersales.domain.refusals import (
    CaseNotFound,
    OrderNotFound,
    ReplacementNotSameProduct,
    ShopUnavailable,
)
from services.aftersales.store import cases as store
from services.aftersales.store import orders as orders_store
from services.aftersales.use_cases.moves import enter
from services.aftersales.views import CasePage, CaseView

log = logging.getLogger(__name__)

# What operators work on.
OPERATOR_STATUSES = ["escalated", "refund_failed"]


async def open_case(
    runtime: Runtime,
    caller: Principal,
    *,
    order_id: str,
    kind: str,
    reason_code: str,
    description: str,
    evidence_urls: list[str],
    lines: list[AskedLine],
    request: object,
    key: str,
) -> CaseView:
    """The buyer's new case on a paid order of theirs; a retry with the same key answers the same case."""
    buyer_id = caller.sub
    if not is_uuid(order_id):
        raise OrderNotFound()
    case_id = derived_id("case", buyer_id, key)
    tag({names.ORDER_ID: order_id})
    settings = runtime.settings

    async def allowed(conn, *, lock: bool) -> tuple[OrderFacts, list[CaseUnits]]:
        order = await orders_store.order_facts(conn, order_id, buyer_id, lock=lock)
        if order is None:
            # Not paid as far as aftersales knows: cancelled unpaid (409), placed and not paid or not heard of as paid
            # yet (409), or unknown and someone else's alike (404).
            raise not_paid(await orders_store.cancelled_unpaid(conn, order_id, buyer_id))
        facts = await orders_store.line_facts(conn, order_id, sorted(domain.RELEASED))
        units = check_opening(
            order,
            facts,
            lines,
            kind=kind,
            now=runtime.clock.now(),
            window_s=settings.case_window_s,
            max_cases_per_line=settings.max_cases_per_line,
        )
        return order, units

    async def effect(conn) -> CaseView:
        # Refuse what the rules refuse before asking shop; then, holding only the key's lock, ask shop; then lock the
        # order so that cases racing for its last units open one at a time, and judge again.
        order, units = await allowed(conn, lock=False)
        await _check_replacement(runtime, case_id, order, units)
        order, units = await allowed(conn, lock=True)
        now = runtime.clock.now()
        deadline = domain.deadline_of("requested", settings, now)
        case = Case(
            case_id=case_id,
            order_id=order_id,
            buyer_id=buyer_id,
            merchant_id=order.merchant_id,
            kind=kind,
            status="requested",
            escalated_from=None,
            grant_attempt=0,
            version=0,
            deadline=deadline,
        )
        await store.insert_case(
            conn,
            case,
            units,
            next_action=domain.next_action_of("requested"),
            reason_code=reason_code,
            description=description,
            evidence_urls=evidence_urls,
            idempotency=key,
            now=now,
        )
        await store.add_history(conn, case_id, at=now, actor="buyer", action="opened", status="requested", note=None)
        await add_events(conn, events.opened(case, units, now))
        await enter(runtime, conn, case_id, "requested", deadline)
        return await store.case_view(conn, case_id)

    stored = await write_once(runtime.db, caller=caller, scope="open_case", key=key, request=request, effect=effect)
    return msgspec.convert(stored, CaseView, strict=False)


async def _check_replacement(runtime: Runtime, case_id: str, order: OrderFacts, units: list[CaseUnits]) -> None:
    """An exchange for another SKU: shop says whether it is one of the same product (out of stock now is fine)."""
    for index, unit in enumerate(units):
        if unit.replacement_sku_id is None or unit.replacement_sku_id == unit.sku_id:
            continue
        try:
            reply = await shop.exchange(
                runtime,
                case_id=case_id,
                merchant_id=order.merchant_id,
                product_id=unit.product_id,
                sku_id=unit.replacement_sku_id,
                quantity=unit.quantity,
                action="check",
            )
        except shop.ShopDidNotAnswer as exc:
            raise ShopUnavailable() from exc
        if reply.ok or reply.error == "insufficient_stock":
            continue
        if reply.error in ("unknown_sku", "not_same_product"):
            raise ReplacementNotSameProduct(index)
        log.warning("case %s: shop refused the replacement check: %s (%s)", case_id, reply.error, reply.detail)
        raise ShopUnavailable("shop could not check the replacement; try again")


async def case_of(runtime: Runtime, caller: Principal, case_id: str) -> CaseView:
    """A case of the buyer's, of the merchant's, or any (operator); 404 otherwise."""
    if not is_uuid(case_id):
        raise CaseNotFound()
    scope: dict[str, str] = {}
    if caller.role == "buyer":
        scope = {"buyer_id": caller.sub}
    elif caller.role == "merchant":
        if not is_uuid(caller.merchant_id):
            raise CaseNotFound()
        scope = {"merchant_id": caller.merchant_id or ""}
    async with runtime.db.transaction() as conn:
        if await store.fetch_case(conn, case_id, **scope) is None:
            raise CaseNotFound()
        return await store.case_view(conn, case_id)


async def buyer_page(runtime: Runtime, caller: Principal, *, limit: int, cursor: str | None) -> CasePage:
    """The buyer's cases, newest first."""
    before = domain.decode_cursor(cursor) if cursor else None
    found = await store.buyer_cases(runtime.db, caller.sub, before=before, limit=limit + 1)
    items = found[:limit]
    more = len(found) > limit and items
    return CasePage(
        items=items, next_cursor=domain.encode_cursor(items[-1].created_at, items[-1].case_id) if more else None
    )


async def merchant_page(runtime: Runtime, caller: Principal, *, status: str | None, limit: int) -> CasePage:
    """The merchant's cases, soonest deadline first."""
    if status is not None:
        domain.ensure_status(status)
    if not is_uuid(caller.merchant_id):
        return CasePage(items=[])
    return CasePage(items=await store.merchant_cases(runtime.db, caller.merchant_id or "", status=status, limit=limit))


async def operator_page(runtime: Runtime, *, limit: int) -> CasePage:
    """Cases waiting for an operator (escalated, refund failed), longest waiting first."""
    return CasePage(items=await store.operator_cases(runtime.db, statuses=OPERATOR_STATUSES, limit=limit))
