"""Refund grants, executed exactly once: accepted under the order's row lock and cap (a case's RefundGranted, or the
buyer's cancel), refunded at Stripe by the `refund_grant` job (read back first, then created under a key derived from
the grant), settled by the job or by Stripe's refund webhooks; returned units counted in the ledger."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import msgspec

from libs.bus import add_events
from libs.contracts import (
    OrderLine,
    RefundFacts,
    RefundFailed,
    RefundGranted,
    RefundLine,
    RefundRequested,
    RefundSucceeded,
    ReturnReceived,
)
from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.scheduler import reschedule, schedule
from libs.telemetry import baggage_set, link_current, names, tag
from services.orders.adapters import stripe
from services.orders.domain import money, room_of_lines
from services.orders.domain.money import GrantOrigin, GrantStatus, LedgerLine
from services.orders.domain.refusals import UnusableEvent
from services.orders.store import grants as store

log = logging.getLogger(__name__)

# A Stripe refund's final statuses besides `succeeded`; any other (pending, requires_action) is looked at again.
_FAILED = ("failed", "canceled")


@dataclass(frozen=True)
class GrantOutcome:
    """What became of a grant: accepted (for `amount_minor`), or refused and why (nothing will be refunded)."""

    accepted: bool
    reason: str | None
    amount_minor: int


async def accept_grant(
    runtime: Runtime,
    conn: asyncpg.Connection,
    *,
    grant_id: str,
    order_id: str,
    case_id: str | None,
    origin: str,
    lines: Sequence[tuple[int, int]],
    deal: money.DealScope | None = None,
) -> GrantOutcome:
    """Accept or refuse a grant of (line_no, quantity) units of one order, in the caller's transaction.

    `deal` (grants local_life asks for): the grant may name only lines of that deal in an order of that merchant,
    else it is refused `not-the-deal`.

    Takes the order's row lock first; a grant already decided answers as it was decided (a redelivery, a cancel
    replayed). Refused: `refused_grants` + RefundFailed(`over-refundable` | `over-captured`). Accepted: a pending
    grant with its lines priced, the units in `refund_requested_qty`, RefundRequested and the `refund_grant` job.
    """
    tag({names.ORDER_ID: order_id})
    order = await store.lock_order_for_grant(conn, order_id)
    if order is None:
        raise UnusableEvent(f"grant {grant_id} is for order {order_id}, which orders does not know")
    # Another trace (a case's, a cancel's) continues the order's story: a link back to where the order was placed.
    link_current(order["trace_headers"])
    decided = await store.stored_grant_outcome(conn, grant_id)
    if decided is not None:
        return GrantOutcome(*decided)
    rows, granted = await store.grant_ledger(conn, order_id)
    ledger = {row["line_no"]: _ledger_line(row) for row in rows}
    captured = order["amount_minor"] if order["paid_at"] is not None and order["stripe_payment_intent_id"] else 0
    out_of_scope = money.deal_scope_refusal(ledger, lines, order["merchant_id"], deal) if deal else None
    plan = (
        money.GrantPlan(refusal=out_of_scope)
        if out_of_scope
        else money.plan_grant(ledger, lines, captured_minor=captured, granted_minor=granted)
    )
    now = runtime.clock.now()
    order_lines = [_order_line(row) for row in rows]
    # The room the order was sold in rides along (span attribute, and baggage on the events and the refund job), so a
    # room's trace runs from the stream to the money given back.
    room_id = room_of_lines(order_lines)
    tag({names.ROOM_ID: room_id})
    with baggage_set(**{names.ROOM_ID: room_id}):
        if plan.refusal is not None:
            await store.record_refused_grant(conn, grant_id, order_id, plan.refusal, now)
            await add_events(
                conn, RefundFailed(**_facts(order, grant_id, case_id, 0, [], order_lines), reason=str(plan.refusal))
            )
            log.warning("order %s: grant %s refused (%s): %s", order_id, grant_id, plan.refusal, list(lines))
            return GrantOutcome(accepted=False, reason=str(plan.refusal), amount_minor=0)
        await store.insert_grant(
            conn,
            grant_id=grant_id,
            order_id=order_id,
            case_id=case_id,
            origin=origin,
            amount_minor=plan.amount_minor,
            currency=order["currency"],
            intent_id=order["stripe_payment_intent_id"],
            lines=[(line.line_no, line.quantity, line.amount_minor) for line in plan.lines],
            now=now,
        )
        refund_lines = _refund_lines(rows, [(line.line_no, line.quantity, line.amount_minor) for line in plan.lines])
        await add_events(
            conn, RefundRequested(**_facts(order, grant_id, case_id, plan.amount_minor, refund_lines, order_lines))
        )
        await schedule(conn, money.REFUND_GRANT_JOB, grant_id, now)
        return GrantOutcome(accepted=True, reason=None, amount_minor=plan.amount_minor)


async def grant_refund(runtime: Runtime, conn: asyncpg.Connection, event: RefundGranted) -> GrantOutcome:
    """aftersales decided: refund these units (consumer `orders__refund_grants`)."""
    if not (is_uuid(event.grant_id) and is_uuid(event.order_id) and is_uuid(event.case_id)):
        raise UnusableEvent(f"grant {event.grant_id!r}: its grant, order and case ids must be UUIDs")
    return await accept_grant(
        runtime,
        conn,
        grant_id=event.grant_id,
        order_id=event.order_id,
        case_id=event.case_id,
        origin=GrantOrigin.CASE,
        lines=[(line.line_no, line.quantity) for line in event.lines],
    )


async def count_return(runtime: Runtime, conn: asyncpg.Connection, event: ReturnReceived) -> None:
    """The merchant received returned units (consumer `orders__returns`): the ledger counts them, bounded by what
    shipped; the inbox makes it once."""
    if not is_uuid(event.order_id):
        raise UnusableEvent(f"return of case {event.case_id}: order id {event.order_id!r} is not a UUID")
    tag({names.ORDER_ID: event.order_id})
    await store.add_returned(
        conn, event.order_id, [(line.line_no, line.quantity, line.restockable) for line in event.lines]
    )


# --- the refund_grant job -----------------------------------------------------------------------------


async def refund_grant(runtime: Runtime, conn: asyncpg.Connection, grant_id: str) -> None:
    """Make the grant's one Stripe refund, in the job's transaction (no row lock held while Stripe answers).

    First read back: a refund made on an earlier try whose answer was lost carries the grant id in its metadata and
    is settled, not made again. Network errors and 5xx raise (the scheduler retries with back-off for as long as it
    takes); a refusal (4xx) is counted and tried again until `refund_max_attempts`, then the grant fails.
    """
    grant = await store.grant_by_id(conn, grant_id)
    if grant is None or grant["status"] != GrantStatus.PENDING:
        return
    tag({names.ORDER_ID: grant["order_id"], names.AMOUNT_MINOR: grant["amount_minor"]})
    gateway = stripe.gateway(runtime)
    intent_id = grant["stripe_payment_intent_id"]
    try:
        refund = stripe.refund_of_grant(await stripe.refunds_of_intent(gateway, intent_id), grant_id)
        if refund is None:
            metadata = {"order_id": grant["order_id"], **({"case_id": grant["case_id"]} if grant["case_id"] else {})}
            refund = await stripe.create_refund(
                gateway, intent_id=intent_id, amount_minor=grant["amount_minor"], grant_id=grant_id, metadata=metadata
            )
    except stripe.StripeError as exc:
        if not stripe.is_refusal(exc):
            raise
        await _refused(runtime, conn, grant, exc)
        return
    now = runtime.clock.now()
    status, failure_reason = stripe.refund_status(refund)
    if status != "succeeded" and status not in _FAILED:
        # pending, requires_action (or a status we do not know): not final yet.
        log.info("grant %s: Stripe refund %s is %s; looking again later", grant_id, refund.id, status)
        await reschedule(
            conn, money.REFUND_GRANT_JOB, grant_id, now + timedelta(seconds=money.REFUND_PENDING_RECHECK_S)
        )
        return
    await settle(runtime, conn, grant_id, refund.id, status, failure_reason, now)


async def _refused(runtime: Runtime, conn: asyncpg.Connection, grant: asyncpg.Record, exc: stripe.StripeError) -> None:
    """Stripe said no: count it; past the limit the grant fails, else the job runs again after a back-off.

    The job reschedules itself rather than raising: raising would roll the count back with its transaction.
    """
    grant_id = grant["grant_id"]
    code = getattr(exc, "code", None)
    error = f"{exc.http_status} {code or ''}: {exc.user_message or exc}"
    attempts = await store.record_refund_attempt(conn, grant_id, error)
    now = runtime.clock.now()
    if attempts >= runtime.settings.refund_max_attempts:
        log.error("grant %s: Stripe refused the refund %d times (%s); failing it", grant_id, attempts, error)
        reason = money.stripe_refusal_reason(code, exc.user_message)
        await settle(runtime, conn, grant_id, None, "failed", reason, now, reason=reason)
        return
    log.error("grant %s: Stripe refused the refund (%s), attempt %d; trying again later", grant_id, error, attempts)
    await reschedule(conn, money.REFUND_GRANT_JOB, grant_id, now + timedelta(seconds=min(2**attempts, 300)))


async def settle(
    runtime: Runtime,
    conn: asyncpg.Connection,
    grant_id: str,
    refund_id: str | None,
    status: str,
    failure_reason: str | None,
    now: datetime,
    *,
    reason: str | None = None,
) -> bool:
    """Settle a pending grant by its refund's final status (the job, or Stripe's webhook): succeeded → refunded units
    and RefundSucceeded; failed / canceled → units handed back and RefundFailed. False if it was not pending (the
    other path settled it first) or the status is not final."""
    grant = await store.grant_by_id(conn, grant_id)
    if grant is None:
        return False
    # The order's row lock first, as every grant takes it: the ledger moves under it.
    order = await store.lock_order_for_grant(conn, grant["order_id"])
    if order is None:
        return False
    if status == "succeeded" and refund_id:
        if not await store.settle_grant(conn, grant_id, GrantStatus.SUCCEEDED, now, refund_id=refund_id):
            return False
        event: RefundFacts = RefundSucceeded(
            **await _grant_facts(conn, order, grant), stripe_refund_id=refund_id, refunded_at=now
        )
    elif status in _FAILED or reason is not None:
        why = reason or money.stripe_outcome_reason(status, failure_reason)
        if not await store.settle_grant(conn, grant_id, GrantStatus.FAILED, now, failure_reason=why):
            return False
        event = RefundFailed(**await _grant_facts(conn, order, grant), reason=why)
        log.error("grant %s of order %s failed: %s", grant_id, grant["order_id"], why)
    else:
        return False
    # Settled by the job (its trace links to the grant's) or by Stripe's webhook (a trace of Stripe's): either way the
    # span links to the order's placing trace, and the room rides on the event, so the refund is followed to its tap.
    room_id = room_of_lines(event.lines)
    tag({names.ORDER_ID: grant["order_id"], names.ROOM_ID: room_id})
    link_current(order["trace_headers"])
    with baggage_set(**{names.ROOM_ID: room_id}):
        await add_events(conn, event)
    return True


# --- what refund events say -------------------------------------------------------------------------


def _ledger_line(row: asyncpg.Record) -> LedgerLine:
    return LedgerLine(
        line_no=row["line_no"],
        quantity=row["quantity"],
        unit_price_minor=row["unit_price_minor"],
        discount_minor=row["discount_minor"],
        shipped_qty=row["shipped_qty"],
        cancelled_qty=row["cancelled_qty"],
        refund_requested_qty=row["refund_requested_qty"],
        granted_amount_minor=int(row["granted_amount_minor"]),
        deal_id=row["deal_id"],
    )


def _order_line(row: asyncpg.Record) -> OrderLine:
    return OrderLine(
        sku_id=row["sku_id"],
        product_id=row["product_id"],
        title=row["title"],
        sku_name=row["sku_name"],
        quantity=row["quantity"],
        unit_price_minor=row["unit_price_minor"],
        amount_minor=row["amount_minor"],
        room_id=row["room_id"],
        discount_minor=row["discount_minor"],
        flash_sale_id=row["flash_sale_id"],
        admission_id=row["admission_id"],
        deal_id=row["deal_id"],
        team_id=row["team_id"],
    )


def _refund_lines(rows: Sequence[asyncpg.Record], planned: Sequence[tuple[int, int, int]]) -> list[RefundLine]:
    by_no = {row["line_no"]: row for row in rows}
    return [
        RefundLine(
            line_no=line_no,
            sku_id=by_no[line_no]["sku_id"],
            quantity=quantity,
            amount_minor=amount,
            room_id=by_no[line_no]["room_id"],
            flash_sale_id=by_no[line_no]["flash_sale_id"],
        )
        for line_no, quantity, amount in planned
    ]


def _facts(
    order: asyncpg.Record,
    grant_id: str,
    case_id: str | None,
    amount_minor: int,
    refund_lines: list[RefundLine],
    order_lines: list[OrderLine],
) -> dict[str, Any]:
    """What every refund event says (contracts.RefundFacts)."""
    return {
        "grant_id": grant_id,
        "case_id": case_id,
        "order_id": order["order_id"],
        "checkout_id": order["checkout_id"],
        "buyer_id": order["buyer_id"],
        "merchant_id": order["merchant_id"],
        "amount_minor": amount_minor,
        "currency": order["currency"],
        "refund_lines": refund_lines,
        "lines": order_lines,
    }


async def _grant_facts(conn: asyncpg.Connection, order: asyncpg.Record, grant: asyncpg.Record) -> dict[str, Any]:
    rows, _ = await store.grant_ledger(conn, grant["order_id"])
    planned = msgspec.convert(grant["lines"] or [], list[dict[str, int]])
    return _facts(
        order,
        grant["grant_id"],
        grant["case_id"],
        grant["amount_minor"],
        _refund_lines(rows, [(p["line_no"], p["quantity"], p["amount_minor"]) for p in planned]),
        [_order_line(row) for row in rows],
    )
