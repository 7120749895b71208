"""Moving cases: a buyer's, merchant's or operator's move over HTTP, a deadline's timeout move, a refund's result.

Every move is decided on the case as read (its `version`) and written by a conditional update on that version, so
the same move twice, or ten at once, moves the case once: one grant, one RefundGranted. A move that needs shop
(taking or releasing an exchange's replacement) asks it before its transaction and holds no row lock meanwhile.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from libs.auth import Principal
from libs.bus import add_events
from libs.contracts import Event, RefundFailed, RefundSucceeded
from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.scheduler import cancel, reschedule, schedule
from libs.telemetry import names, tag
from services.aftersales import domain
from services.aftersales.adapters import shop
from services.aftersales.domain import DEADLINE_JOB, Case, CaseUnits, Plan, events
from services.aftersales.domain.refusals import (
    CaseNotFound,
    CaseNotMovable,
    DuplicateLine,
    RestockableExceedsReturned,
    ShopUnavailable,
    UnknownLine,
)
from services.aftersales.store import cases as store
from services.aftersales.views import CaseView

log = logging.getLogger(__name__)

# A deadline's move that could not reach shop is tried again this much later.
SHOP_RETRY_S = 30


async def enter(
    runtime: Runtime, conn: asyncpg.Connection, case_id: str, status: str, deadline: datetime | None
) -> None:
    """The case entered `status`: its one deadline job is set for that state (or dropped if it has none)."""
    await cancel(conn, DEADLINE_JOB, case_id)
    if deadline is not None:
        await schedule(conn, DEADLINE_JOB, case_id, deadline, {"status": status})


async def _apply(
    runtime: Runtime,
    conn: asyncpg.Connection,
    case: Case,
    action: str,
    planned: Plan,
    *,
    actor: str,
    note: str | None = None,
    fields: dict[str, Any] | None = None,
    restockable: dict[int, int] | None = None,
) -> Case | None:
    """Write the move decided on `case` (None if the case moved meanwhile: nothing written) and what goes with it."""
    # The order's id on the move's span: `liveloop trace <order_id>` shows the case's moves with the order's trace.
    tag({names.ORDER_ID: case.order_id})
    now = runtime.clock.now()
    status = planned.status
    deadline = domain.deadline_of(status, runtime.settings, now)
    final = domain.is_final(status)
    moved = await store.move(
        conn,
        case,
        status=status,
        next_action=domain.next_action_of(status),
        deadline=deadline,
        grant=planned.grant,
        now=now,
        closed=final,
        fields=fields or {},
    )
    if moved is None:
        return None
    await store.add_history(
        conn, case.case_id, at=now, actor=actor, action=domain.DONE[action], status=status, note=note
    )
    made: list[Event] = []
    units: list[CaseUnits] | None = None
    if planned.return_received:
        # Units nobody looked at (a deadline, an operator's ruling) are not put back on sale.
        units = await store.case_units(conn, case.case_id)
        await store.set_restockable(
            conn, case.case_id, {u.line_no: (restockable or {}).get(u.line_no, 0) for u in units}
        )
        units = await store.case_units(conn, case.case_id)
        made.append(events.returned(moved, units, now))
    if planned.grant:
        units = units or await store.case_units(conn, case.case_id)
        made.append(events.granted(moved, moved.grant_attempt, units, now))
    if final:
        made.append(events.closed(moved, status, now))
    await add_events(conn, *made)
    await enter(runtime, conn, case.case_id, status, deadline)
    return moved


async def _ask_shop(runtime: Runtime, case: Case, planned: Plan) -> Plan:
    """Take or release the exchange's replacement as the plan says; an out-of-stock take becomes a refund offer.

    ShopDidNotAnswer when shop is silent: nothing moved, the caller retries.
    """
    if not (planned.take or planned.release):
        return planned
    units = (await store.case_units(runtime.db, case.case_id))[0]
    reply = await shop.exchange(
        runtime,
        case_id=case.case_id,
        merchant_id=case.merchant_id,
        product_id=units.product_id,
        sku_id=units.replacement_sku_id or units.sku_id,
        quantity=units.quantity,
        action="take" if planned.take else "release",
    )
    if planned.release:
        if not reply.ok:
            # Nothing taken to give back (the case never got as far), or shop says why not: the move goes on.
            log.warning("case %s: shop did not release the replacement: %s", case.case_id, reply.error)
        return planned
    if reply.ok:
        return planned
    if reply.error != "insufficient_stock":
        # The replacement cannot be given at all (the SKU is gone): the buyer is offered the refund instead.
        log.warning("case %s: shop refused the replacement: %s (%s)", case.case_id, reply.error, reply.detail)
    return domain.out_of_stock(planned)


async def _give_back_if_stranded(runtime: Runtime, case: Case, planned: Plan) -> None:
    """A move that had shop take the replacement lost to another move of the case (nothing it planned was written):
    unless the case now holds a replacement (the winner took the same one: the exchange id is the case id, shop
    took it once), shop gives it back, so no unit stays taken for a case that will never ship it."""
    if not planned.take:
        return
    now = await store.fetch_case(runtime.db, case.case_id)
    if now is not None and domain.holds_replacement(now.status, now.escalated_from):
        return
    units = (await store.case_units(runtime.db, case.case_id))[0]
    try:
        reply = await shop.exchange(
            runtime,
            case_id=case.case_id,
            merchant_id=case.merchant_id,
            product_id=units.product_id,
            sku_id=units.replacement_sku_id or units.sku_id,
            quantity=units.quantity,
            action="release",
        )
    except shop.ShopDidNotAnswer:
        log.error("case %s: a replacement taken by a move that lost stays taken: shop did not answer", case.case_id)
        return
    if not reply.ok:
        log.error("case %s: shop did not give back a stranded replacement: %s", case.case_id, reply.error)


def _scope(caller: Principal) -> dict[str, str]:
    if caller.role == "buyer":
        return {"buyer_id": caller.sub}
    if caller.role == "merchant":
        return {"merchant_id": caller.merchant_id or ""}
    return {}


async def _case_of(runtime: Runtime, caller: Principal, case_id: str) -> Case:
    scope = _scope(caller)
    if not is_uuid(case_id) or ("merchant_id" in scope and not is_uuid(scope["merchant_id"])):
        raise CaseNotFound()
    case = await store.fetch_case(runtime.db, case_id, **scope)
    if case is None:
        raise CaseNotFound()
    return case


async def act(
    runtime: Runtime,
    caller: Principal,
    case_id: str,
    action: str,
    *,
    note: str | None = None,
    fields: dict[str, Any] | None = None,
    in_favour_of: str | None = None,
    restockable: list[tuple[int, int]] | None = None,
) -> CaseView:
    """A buyer's, merchant's or operator's move on a case of theirs (404 otherwise; 409 out of turn)."""
    case = await _case_of(runtime, caller, case_id)
    planned = domain.plan(case, action, in_favour_of=in_favour_of)
    restocked = await _restockable(runtime, case, restockable) if action == "confirm_receipt" else None
    if action in ("escalate", "replacement_overdue"):
        fields = {**(fields or {}), "escalated_from": case.status}
    if action == "decide":
        fields = {**(fields or {}), "decision": in_favour_of}
    try:
        planned = await _ask_shop(runtime, case, planned)
    except shop.ShopDidNotAnswer as exc:
        raise ShopUnavailable() from exc
    async with runtime.db.transaction() as conn:
        moved = await _apply(
            runtime, conn, case, action, planned, actor=caller.role, note=note, fields=fields, restockable=restocked
        )
        if moved is None:
            # Someone moved it first (the same approval twice, ten at once): the answer says where it is now.
            now = await store.fetch_case(conn, case.case_id)
            assert now is not None
            await _give_back_if_stranded(runtime, case, planned)
            raise CaseNotMovable(domain.MOVES[action].refusal, now.status)
        return await store.case_view(conn, case.case_id)


async def _restockable(runtime: Runtime, case: Case, asked: list[tuple[int, int]] | None) -> dict[int, int]:
    """Units fit to sell again per line: what the merchant says, each line not named (or none named) all of them."""
    units = {u.line_no: u.quantity for u in await store.case_units(runtime.db, case.case_id)}
    restockable = dict(units)
    seen: set[int] = set()
    for index, (line_no, fit) in enumerate(asked or []):
        if line_no not in units:
            raise UnknownLine(f"lines[{index}].line_no")
        if line_no in seen:
            raise DuplicateLine(f"lines[{index}].line_no")
        seen.add(line_no)
        if fit > units[line_no]:
            raise RestockableExceedsReturned(index, units[line_no])
        restockable[line_no] = fit
    return restockable


async def deadline_passed(runtime: Runtime, conn: asyncpg.Connection, case_id: str, payload: dict) -> None:
    """The `case_deadline` job: the state's timeout move, if the case is still in the state it was set for."""
    case = await store.fetch_case(conn, case_id)
    if case is None or case.status != payload.get("status"):
        return
    action = domain.timeout_of(case.status)
    if action is None:
        return
    now = runtime.clock.now()
    if case.deadline is not None and case.deadline > now:
        # Set again for later meanwhile (the job runs at its due time, which is the deadline's).
        await reschedule(conn, DEADLINE_JOB, case_id, case.deadline)
        return
    planned = domain.plan(case, action)
    try:
        planned = await _ask_shop(runtime, case, planned)
    except shop.ShopDidNotAnswer:
        log.warning("case %s: shop did not answer; the %s deadline's move is tried again", case_id, case.status)
        await reschedule(conn, DEADLINE_JOB, case_id, now + timedelta(seconds=SHOP_RETRY_S))
        return
    fields = {"escalated_from": case.status} if action == "replacement_overdue" else None
    moved = await _apply(
        runtime, conn, case, action, planned, actor=domain.cases.PLATFORM, note="deadline passed", fields=fields
    )
    if moved is None:
        await _give_back_if_stranded(runtime, case, planned)


async def refund_settled(runtime: Runtime, conn: asyncpg.Connection, event: RefundSucceeded | RefundFailed) -> None:
    """orders' word on a case's grant: refunded (the amount and Stripe's refund id kept) or refund_failed."""
    if event.case_id is None or not is_uuid(event.case_id):
        return
    case = await store.fetch_case(conn, event.case_id)
    if case is None or event.grant_id != events.grant_id(case.case_id, case.grant_attempt):
        # Not ours, or about a grant the case has moved past.
        log.warning("refund result for grant %s of case %s: no such current grant", event.grant_id, event.case_id)
        return
    action = "refund_succeeded" if isinstance(event, RefundSucceeded) else "refund_failed"
    if case.status not in domain.MOVES[action].sources:
        return
    if isinstance(event, RefundSucceeded):
        fields: dict[str, Any] = {"refund_amount_minor": event.amount_minor, "stripe_refund_id": event.stripe_refund_id}
        note = None
    else:
        fields, note = {}, event.reason
    await _apply(
        runtime, conn, case, action, domain.plan(case, action), actor=domain.cases.PLATFORM, note=note, fields=fields
    )
