"""Deal holds for checkout: reserve (request/reply), commit when paid, release when cancelled, abandoned or lapsed.

A hold counts in its deal's `sold` from the reserve on. Paid → committed (stays counted); cancelled, abandoned or
lapsed → released (`sold` goes down again). Each hold moves once (conditional updates on its status, under the
checkout's row lock). A payment landing after the hold was released still counts: the units are counted sold again
if the deal has them left, else the hold is committed anyway and a shortfall (an oversell) is logged as a warning,
`sold` never exceeding `total_quantity`.

A team deal's item also takes a seat in a team (`use_cases/teams.py`) in the same transaction; the seat is released
with the hold.
"""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from libs.contracts import CheckoutAbandoned, OrderCancelled, OrderPaid, ReserveDeals, ReserveDealsReply
from libs.runtime import Runtime
from libs.scheduler import cancel, schedule
from libs.telemetry import names, tag
from services.local_life.domain import holds as rules
from services.local_life.domain.holds import DealFacts, HoldRefused
from services.local_life.store import holds as store
from services.local_life.use_cases import teams

log = logging.getLogger(__name__)

EXPIRY_JOB = "deal_hold_expiry"


class _TwinCommitted(Exception):
    """Another request for the same checkout reserved first."""


def _too_late(runtime: Runtime, request: ReserveDeals) -> bool:
    """The caller has stopped waiting: whatever we hold now would sit unused until `hold_until`."""
    return request.answer_by is not None and runtime.clock.now() > request.answer_by


def _gave_up(request: ReserveDeals) -> HoldRefused:
    return HoldRefused(
        "too_late", f"checkout {request.checkout_id}: the caller stopped waiting at {request.answer_by}; nothing held"
    )


async def reserve(runtime: Runtime, request: ReserveDeals) -> ReserveDealsReply:
    """Hold every item of a checkout or none; a repeat of the same checkout and items gets the same lines back."""
    tag({names.CHECKOUT_ID: request.checkout_id, names.BUYER_ID: request.buyer_id})
    try:
        # Checked first too, so a backlog of abandoned requests costs no locks on hot deals.
        if _too_late(runtime, request):
            raise _gave_up(request)
        wanted = rules.merge_items(request.items)
        found = await store.stored(runtime.db.pool, request.checkout_id)
        if found is not None:
            return rules.replay(found, request.checkout_id, request.buyer_id, wanted, runtime.clock.now())
        now = runtime.clock.now()
        rules.check_window(request.checkout_id, request.hold_until, now)
        async with runtime.db.transaction() as conn:
            if not await store.claim_checkout(conn, request.checkout_id, request.buyer_id, request.hold_until, now):
                raise _TwinCommitted
            # A fixed order (by deal id) for the row locks: two checkouts sharing deals never deadlock.
            deals: dict[str, DealFacts] = {}
            for deal_id in sorted(w.deal_id for w in wanted):
                facts = await store.lock_deal(conn, deal_id)
                if facts is not None:
                    deals[deal_id] = facts
            lines = rules.price(wanted, deals)
            for want in sorted(wanted, key=lambda w: w.deal_id):
                units = await store.buyer_units(conn, want.deal_id, request.buyer_id)
                rules.check_room(want, deals[want.deal_id], units)
                # The row is locked and was just checked: this cannot fail, but never let `sold` pass the total.
                if not await store.add_sold(conn, want.deal_id, want.quantity):
                    raise HoldRefused("sold_out", f"items[{want.index}]: deal {want.deal_id} is sold out", want.index)
            lines = await teams.take_seats(conn, request, wanted, deals, lines, now)
            await store.insert_holds(conn, request.checkout_id, request.buyer_id, lines, request.hold_until, now)
            # Release by ourselves if neither payment nor cancellation arrives (e.g. orders crashed).
            await schedule(conn, EXPIRY_JOB, request.checkout_id, request.hold_until)
            # Last thing before COMMIT (waiting for row locks may have taken long): raising rolls it all back.
            if _too_late(runtime, request):
                raise _gave_up(request)
    except HoldRefused as refused:
        return refused.reply()
    except _TwinCommitted:
        found = await store.stored(runtime.db.pool, request.checkout_id)
        assert found is not None
        return rules.replay(found, request.checkout_id, request.buyer_id, wanted, runtime.clock.now())
    return ReserveDealsReply(ok=True, lines=lines)


async def commit_paid(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """The paid order's deal holds stay counted for good, once, however often the event arrives."""
    now = runtime.clock.now()
    tag({names.ORDER_ID: event.order_id, names.CHECKOUT_ID: event.checkout_id})
    deal_ids = rules.deals_of(event.lines)
    if not deal_ids or not await store.lock_checkout(conn, event.checkout_id):
        return
    common = dict(order_id=event.order_id, now=now)
    await store.move_holds(conn, event.checkout_id, deal_ids, from_status="held", to_status="committed", **common)
    # Paid after the hold was released (it lapsed, or a cancellation raced the payment): the buyer paid, so the units
    # are sold again, but never past the deal's total. If they went to someone else meanwhile, it is an oversell.
    for hold in await store.move_holds(
        conn, event.checkout_id, deal_ids, from_status="released", to_status="committed", **common
    ):
        if not await store.add_sold(conn, hold.deal_id, hold.quantity):
            log.warning(
                "oversold: order %s paid for %d of deal %s after its hold lapsed, and the deal sold out meanwhile",
                event.order_id,
                hold.quantity,
                hold.deal_id,
            )
    if not await store.has_held(conn, event.checkout_id):
        await cancel(conn, EXPIRY_JOB, event.checkout_id)


async def release_cancelled(runtime: Runtime, conn: asyncpg.Connection, event: OrderCancelled) -> None:
    """A cancelled order's held deals (those on its lines: a checkout may span merchants) are for sale again, once."""
    tag({names.ORDER_ID: event.order_id, names.CHECKOUT_ID: event.checkout_id})
    deal_ids = rules.deals_of(event.lines)
    if not deal_ids or not await store.lock_checkout(conn, event.checkout_id):
        return
    await _release(conn, runtime.clock.now(), event.checkout_id, deal_ids, event.order_id)


async def release_abandoned(runtime: Runtime, conn: asyncpg.Connection, event: CheckoutAbandoned) -> None:
    """No order will use the checkout: every deal it still holds is for sale again now, once."""
    tag({names.CHECKOUT_ID: event.checkout_id, names.BUYER_ID: event.buyer_id})
    if not await store.lock_checkout(conn, event.checkout_id):
        return
    log.info("checkout %s abandoned by orders (%s): releasing its deal holds", event.checkout_id, event.reason)
    await _release(conn, runtime.clock.now(), event.checkout_id, None, None)


async def expire(runtime: Runtime, conn: asyncpg.Connection, checkout_id: str) -> None:
    """The hold ran out: whatever is still held is for sale again."""
    tag({names.CHECKOUT_ID: checkout_id})
    if not await store.lock_checkout(conn, checkout_id):
        return
    await _release(conn, runtime.clock.now(), checkout_id, None, None)


async def _release(
    conn: asyncpg.Connection, now: datetime, checkout_id: str, deal_ids: list[str] | None, order_id: str | None
) -> None:
    """Held holds of a locked checkout back to their deals (in deal id order), with their team seats; drop the expiry
    job once none is held."""
    released = await store.move_holds(
        conn, checkout_id, deal_ids, from_status="held", to_status="released", order_id=order_id, now=now
    )
    for hold in released:
        await store.remove_sold(conn, hold.deal_id, hold.quantity)
    # Only the seats of holds released just now: a hold already committed (paid) keeps its seat for the payment.
    if released:
        await teams.release_seats(conn, checkout_id, [hold.deal_id for hold in released], now)
    if not await store.has_held(conn, checkout_id):
        await cancel(conn, EXPIRY_JOB, checkout_id)
