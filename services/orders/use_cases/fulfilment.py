"""Fulfilment ("Orders: fulfilment" in docs/ARCHITECTURE.md): shipping, delivery (the merchant or the carrier's
signed callback), completion (the buyer, or the clock with after-sales cases stopping it) and the buyer's cancel
after payment. Every move takes the order's row lock first and is a conditional update from its allowed sources."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec

from libs.auth import Principal
from libs.contracts import CaseClosed, CaseOpened
from libs.db import write_once
from libs.errors import NotFound
from libs.ids import derived_id, is_uuid
from libs.runtime import Runtime
from libs.scheduler import cancel, reschedule, schedule
from libs.telemetry import names, tag
from services.orders import domain, store
from services.orders.domain import OrderStatus
from services.orders.domain import fulfilment as rules
from services.orders.domain.fulfilment import CompletedBy, FulfilledOrder
from services.orders.domain.refusals import InvalidEvent, UnusableEvent
from services.orders.store import fulfilment as shipments
from services.orders.use_cases import grants
from services.orders.use_cases.orders import order_of
from services.orders.use_cases.payment_results import announce
from services.orders.views import CarrierAck, OrderPage, OrderView, ShipmentList, ShipmentView

log = logging.getLogger(__name__)


async def _locked(
    conn: asyncpg.Connection, order_id: str, *, buyer_id: str | None = None, merchant_id: str | None = None
) -> FulfilledOrder:
    """The caller's order under its row lock; anyone else's (or an id that is no order's) is 404."""
    if not is_uuid(order_id) or (merchant_id is not None and not is_uuid(merchant_id)):
        raise NotFound("no such order")
    order = await shipments.lock_order(conn, order_id, buyer_id=buyer_id, merchant_id=merchant_id)
    if order is None:
        raise NotFound("no such order")
    tag({names.ORDER_ID: order_id})
    return order


# --- shipping ------------------------------------------------------------------------------------------------------


async def ship_order(
    runtime: Runtime,
    caller: Principal,
    *,
    order_id: str,
    carrier: str,
    tracking_number: str,
    lines: Sequence[tuple[int, int]] | None,
    request: object,
    key: str | None,
) -> ShipmentView:
    """The merchant ships units of its paid order (all left to ship when `lines` is None): a shipment, the ledger,
    the order's status and OrderShipped, in one transaction (once per Idempotency-Key)."""
    merchant_id = caller.merchant_id or ""
    shipment_id = derived_id("shipment", merchant_id, order_id, key) if key else str(uuid.uuid4())

    async def effect(conn: asyncpg.Connection) -> dict[str, str]:
        order = await _locked(conn, order_id, merchant_id=merchant_id)
        sent = rules.plan_shipment(order, lines)
        now = runtime.clock.now()
        written = await shipments.insert_shipment(
            conn,
            shipment_id=shipment_id,
            order=order,
            carrier=carrier,
            tracking_number=tracking_number,
            lines=sent,
            now=now,
        )
        if not written:
            raise rules.TrackingNumberUsed(
                f"{carrier} tracking number {tracking_number} is already used by a shipment", field="tracking_number"
            )
        await shipments.add_to_ledger(conn, order_id, "shipped_qty", sent)
        target = rules.status_after_shipment(order, sent)
        await shipments.move_order(conn, order_id, target)
        event = rules.shipped_event(
            order, shipment_id, carrier, tracking_number, sent, target == OrderStatus.SHIPPED, now
        )
        await announce(runtime, conn, order.order, event)
        return {"order_id": order_id, "shipment_id": shipment_id}

    stored = await write_once(
        runtime.db, caller=caller, scope=f"orders.ship:{order_id}", key=key, request=request, effect=effect
    )
    assert isinstance(stored, dict)
    found = await shipments.shipment_of_order(runtime.db, stored["order_id"], stored["shipment_id"])
    assert found is not None
    return found


async def shipments_of(
    runtime: Runtime, *, order_id: str, buyer_id: str | None = None, merchant_id: str | None = None
) -> ShipmentList:
    """The shipments of the caller's own order (404 for anyone else's)."""
    order = await order_of(runtime, order_id=order_id, buyer_id=buyer_id, merchant_id=merchant_id)
    return ShipmentList(items=order.shipments)


async def orders_to_ship(runtime: Runtime, *, merchant_id: str, limit: int, cursor: str | None) -> OrderPage:
    """The merchant's queue: orders with units to ship, soonest ship-by first (late ones say so)."""
    if not is_uuid(merchant_id):
        return OrderPage(items=[])
    after = domain.decode_cursor(cursor) if cursor else None
    found = await shipments.orders_to_ship(
        runtime.db, merchant_id, after=after, limit=limit + 1, now=runtime.clock.now()
    )
    items = found[:limit]
    last = items[-1] if items else None
    more = len(found) > limit and last is not None and last.ship_by is not None
    next_cursor = domain.encode_cursor(last.ship_by, last.order_id) if more and last and last.ship_by else None
    return OrderPage(items=items, next_cursor=next_cursor)


# --- delivery ------------------------------------------------------------------------------------------------------


async def mark_delivered(runtime: Runtime, *, merchant_id: str, order_id: str, shipment_id: str) -> ShipmentView:
    """The merchant says a shipment arrived; again on a delivered one answers it as it is."""
    async with runtime.db.transaction() as conn:
        order = await _locked(conn, order_id, merchant_id=merchant_id)
        if not is_uuid(shipment_id) or await shipments.shipment_of_order(conn, order_id, shipment_id) is None:
            raise rules.ShipmentNotFound("no such shipment of this order")
        await _deliver(runtime, conn, order, shipment_id, "merchant")
        found = await shipments.shipment_of_order(conn, order_id, shipment_id)
    assert found is not None
    return found


class CarrierEvent(msgspec.Struct, kw_only=True):
    """A carrier's callback (tolerant of fields it adds: the signature vouches for the body, not its shape)."""

    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    carrier: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    tracking_number: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    status: Annotated[str, msgspec.Meta(max_length=50)]
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)]


async def receive_carrier_event(runtime: Runtime, payload: bytes, signature: str | None) -> CarrierAck:
    """Verify a carrier callback, apply its event once (recorded with its effect), deliver the shipment it names."""
    settings = runtime.settings
    # The wall clock, not the runtime's: the carrier dates its signature by its own wall clock.
    rules.verify_carrier_signature(
        payload, signature, settings.carrier_webhook_secret, settings.carrier_webhook_tolerance_s, time.time()
    )
    try:
        event = msgspec.json.decode(payload, type=CarrierEvent)
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not a carrier event: {exc}") from exc
    except RecursionError as exc:
        raise InvalidEvent("not a carrier event: nested too deeply") from exc
    shipment = await shipments.shipment_by_tracking(runtime.db, event.carrier, event.tracking_number)
    if shipment is None or event.status != rules.ShipmentStatus.DELIVERED:
        # Not ours, or news we do not act on (in transit): acknowledged, or the carrier retries for ever.
        return CarrierAck(status="ignored")
    async with runtime.db.transaction() as conn:
        if not await shipments.record_carrier_event(conn, event.event_id, event.carrier, runtime.clock.now()):
            return CarrierAck(status="duplicate")
        order = await _locked(conn, shipment.order_id)
        await _deliver(runtime, conn, order, shipment.shipment_id, "carrier")
    return CarrierAck(status="delivered")


async def _deliver(
    runtime: Runtime, conn: asyncpg.Connection, order: FulfilledOrder, shipment_id: str, by: str
) -> None:
    """The shipment is delivered; the order too when nothing is left to ship and every shipment arrived."""
    now = runtime.clock.now()
    if await shipments.deliver_shipment(conn, shipment_id, now, by):
        await _deliver_order_if_done(runtime, conn, order, order.status, now)


async def _deliver_order_if_done(
    runtime: Runtime, conn: asyncpg.Connection, order: FulfilledOrder, status: str, now: datetime
) -> None:
    """`status`: the order's status now (under the lock). Shipped with every shipment delivered → delivered, its
    completion clock started (or stopped from now while after-sales cases are open), OrderDelivered."""
    if status != OrderStatus.SHIPPED or await shipments.undelivered_shipments(conn, order.order_id):
        return
    held = await shipments.cases_open(conn, order.order_id) > 0
    completion = rules.completion_on_delivery(now, runtime.settings.auto_complete_s, held)
    if not await shipments.deliver_order(conn, order.order_id, now, completion.complete_by, completion.paused_at):
        return
    if completion.paused_at is None:
        await schedule(conn, rules.AUTO_COMPLETE_JOB, order.order_id, completion.complete_by)
    await announce(runtime, conn, order.order, rules.delivered_event(order, now))


# --- completion ----------------------------------------------------------------------------------------------------


async def confirm_receipt(runtime: Runtime, *, buyer_id: str, order_id: str) -> OrderView:
    """The buyer says the goods arrived: a shipped or delivered order completes now; a completed one stays so."""
    async with runtime.db.transaction() as conn:
        order = await _locked(conn, order_id, buyer_id=buyer_id)
        if rules.ensure_completable(order):
            await _complete(runtime, conn, order, CompletedBy.BUYER)
    return await order_of(runtime, order_id=order_id, buyer_id=buyer_id)


async def _complete(runtime: Runtime, conn: asyncpg.Connection, order: FulfilledOrder, by: CompletedBy) -> None:
    now = runtime.clock.now()
    if await shipments.complete_order(conn, order.order_id, by, now):
        await cancel(conn, rules.AUTO_COMPLETE_JOB, order.order_id)
        await announce(runtime, conn, order.order, rules.completed_event(order, by, now))


async def auto_complete(runtime: Runtime, conn: asyncpg.Connection, order_id: str) -> None:
    """The `order_auto_complete` job: a delivered order whose clock ran out with no case open completes."""
    order = await shipments.lock_order(conn, order_id)
    if order is None or order.status != OrderStatus.DELIVERED:
        return
    now = runtime.clock.now()
    held = await shipments.cases_open(conn, order_id) > 0
    if rules.is_due_to_complete(order, held, now):
        if await shipments.complete_order(conn, order_id, CompletedBy.AUTO, now):
            await announce(runtime, conn, order.order, rules.completed_event(order, CompletedBy.AUTO, now))
    elif not held and order.completion_paused_at is None and order.complete_by is not None:
        # Its deadline moved on since this job was set: keep the job, at the new deadline.
        await reschedule(conn, rules.AUTO_COMPLETE_JOB, order_id, order.complete_by)
    # A case open: nothing; the last close schedules the job again.


async def case_opened(runtime: Runtime, conn: asyncpg.Connection, event: CaseOpened) -> None:
    """Consumer `orders__case_holds`: a case holds the order's completion; the first one stops a running clock."""
    if not (is_uuid(event.case_id) and is_uuid(event.order_id)):
        raise UnusableEvent(f"case {event.case_id!r}: its case and order ids must be UUIDs")
    order = await shipments.lock_order(conn, event.order_id)
    if order is None:
        log.warning("case %s opened on order %s, which orders does not know", event.case_id, event.order_id)
        return
    now = runtime.clock.now()
    if not await shipments.open_case(conn, event.case_id, event.order_id, now):
        return
    if await shipments.pause_completion(conn, event.order_id, now):
        await cancel(conn, rules.AUTO_COMPLETE_JOB, event.order_id)


async def case_closed(runtime: Runtime, conn: asyncpg.Connection, event: CaseClosed) -> None:
    """Consumer `orders__case_holds`: a case no longer holds the order; the last one starts the clock again with
    the time it was stopped added to the deadline."""
    if not (is_uuid(event.case_id) and is_uuid(event.order_id)):
        raise UnusableEvent(f"case {event.case_id!r}: its case and order ids must be UUIDs")
    order = await shipments.lock_order(conn, event.order_id)
    now = runtime.clock.now()
    if not await shipments.close_case(conn, event.case_id, now) or order is None:
        return
    if await shipments.cases_open(conn, event.order_id) or order.status != OrderStatus.DELIVERED:
        return
    if order.completion_paused_at is None or order.complete_by is None:
        return
    complete_by = rules.resumed_complete_by(order.complete_by, order.completion_paused_at, now)
    if await shipments.resume_completion(conn, event.order_id, complete_by):
        await cancel(conn, rules.AUTO_COMPLETE_JOB, event.order_id)
        await schedule(conn, rules.AUTO_COMPLETE_JOB, event.order_id, complete_by)


# --- the buyer's cancel after payment ------------------------------------------------------------------------------


async def cancel_order(runtime: Runtime, caller: Principal, *, order_id: str, key: str | None) -> OrderView:
    """The buyer cancels what has not shipped: the whole order before anything shipped, or (once late) the rest of
    a partly shipped one. Ledger, status, the refund grant and OrderCancelledAfterPayment in one transaction."""
    buyer_id = caller.sub

    async def effect(conn: asyncpg.Connection) -> dict[str, str]:
        order = await _locked(conn, order_id, buyer_id=buyer_id)
        now = runtime.clock.now()
        plan = rules.plan_cancel(order, now)
        await shipments.add_to_ledger(conn, order_id, "cancelled_qty", plan.lines)
        if plan.whole_order:
            await shipments.cancel_paid_order(conn, order_id, plan.reason, now)
            if order.order.coupon_id:
                # Nothing shipped and all paid back: the buyer got nothing, so the coupon is theirs again.
                await store.give_back_coupons(conn, [order_id], now)
        else:
            await shipments.move_order(conn, order_id, plan.status)
        grant_id = derived_id("cancel", order_id)
        outcome = await grants.accept_grant(
            runtime,
            conn,
            grant_id=grant_id,
            order_id=order_id,
            case_id=None,
            origin=rules.CANCEL_GRANT_ORIGIN,
            lines=plan.lines,
        )
        if not outcome.accepted:
            # Never units cancelled and not paid back: refuse the cancel whole (the transaction rolls back).
            raise rules.CancelRefundRefused(
                f"the refund of the cancelled units was refused ({outcome.reason})", reason=outcome.reason
            )
        await announce(runtime, conn, order.order, rules.cancelled_after_payment_event(order, plan, grant_id, now))
        if not plan.whole_order:
            # What was left to ship is gone: the order may be delivered already if every shipment arrived.
            await _deliver_order_if_done(runtime, conn, order, plan.status, now)
        return {"order_id": order_id}

    await write_once(runtime.db, caller=caller, scope=f"orders.cancel:{order_id}", key=key, request={}, effect=effect)
    return await order_of(runtime, order_id=order_id, buyer_id=buyer_id)
