"""Recovery a buyer does not notice: a confirmed payment is looked up at Stripe when its webhook does not come
(`payment_reconcile` job), and intents Stripe made but orders never recorded are attached or cancelled
(`intent_orphan_sweep` job). Both apply Stripe's money through `payment_results`, as the webhook does, so whichever
comes second finds the first's result under the checkout lock."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import reschedule, schedule
from libs.telemetry import names, tag
from services.orders import domain
from services.orders.adapters import stripe
from services.orders.domain import PaymentStatus
from services.orders.domain.recovery import (
    ORPHAN_SWEEP_JOB,
    ORPHAN_SWEEP_KEY,
    RECONCILE_JOB,
    OrphanAction,
    ReconcileAction,
    on_orphan,
    on_reconcile,
)
from services.orders.store import payments as payment_store
from services.orders.use_cases import payment_results

log = logging.getLogger(__name__)

# Intent requests looked for per sweep; the rest wait for the next one.
_SWEEP_BATCH = 500
# Stripe's `created` is its own clock's: a little slack either side of the window the sweep asks for.
_CLOCK_SLACK_S = 60


async def expect_outcome(runtime: Runtime, conn: asyncpg.Connection | None, payment_id: str) -> None:
    """Make sure Stripe is asked about this payment `reconcile_after_s` from now unless its webhook settles it first
    (a look already due stays as it is)."""
    due = runtime.clock.now() + timedelta(seconds=runtime.settings.reconcile_after_s)
    if conn is not None:
        await schedule(conn, RECONCILE_JOB, payment_id, due)
        return
    async with runtime.db.transaction() as own:
        await schedule(own, RECONCILE_JOB, payment_id, due)


async def reconcile_payment(runtime: Runtime, conn: asyncpg.Connection, payment_id: str) -> None:
    """Ask Stripe where the confirmed payment's money is, and apply it as the webhook would (exactly once)."""
    tag({names.PAYMENT_ID: payment_id})
    # A plain read: the job holds no lock while Stripe answers (the webhook may pay meanwhile).
    payment = await payment_store.payment_by_id(conn, payment_id)
    if payment is None or payment["checkout_status"] != domain.CheckoutStatus.AWAITING_PAYMENT:
        return
    intent_id = payment["stripe_payment_intent_id"]
    if not intent_id or payment["status"] == PaymentStatus.SUCCEEDED:
        return
    try:
        intent = await stripe.retrieve_payment_intent(stripe.gateway(runtime), intent_id)
    except stripe.InvalidRequest as exc:
        if stripe.is_unknown(exc):
            return  # no money can come through an intent Stripe does not know; the payment window decides
        raise
    now = runtime.clock.now()
    action = on_reconcile(intent.status, declined=bool(intent.last_payment_error))
    if action == ReconcileAction.PAY:
        result = await payment_results.payment_succeeded(runtime, conn, payment, intent, now)
        payment_results.count_paid(runtime, result.paid)
        if result.paid:
            log.info("payment %s: paid by reconciling with Stripe (its webhook has not come)", payment_id)
    elif action == ReconcileAction.FAIL:
        error = (intent.last_payment_error or {}).get("message")
        await payment_store.move_payment(
            conn, payment_id, PaymentStatus.FAILED, now, error=str(error)[:500] if error else None
        )
    elif action == ReconcileAction.LOOK_AGAIN and now < payment["pay_by"]:
        # Past pay_by the payment-window job waits for an intent in flight; until then, this one does.
        later = now + timedelta(seconds=runtime.settings.reconcile_interval_s)
        await reschedule(conn, RECONCILE_JOB, payment_id, later)


async def ensure_orphan_sweep(runtime: Runtime) -> None:
    """Start the one sweep of orphan intents if it is not scheduled (it schedules itself on)."""
    due = runtime.clock.now() + timedelta(seconds=runtime.settings.orphan_grace_s)
    async with runtime.db.transaction() as conn:
        await schedule(conn, ORPHAN_SWEEP_JOB, ORPHAN_SWEEP_KEY, due)


async def sweep_orphan_intents(runtime: Runtime, conn: asyncpg.Connection) -> None:
    """Look at Stripe for the intents of requests not yet looked for; attach each unrecorded one to the payment that
    still waits for it, or cancel it; then schedule the next sweep."""
    settings = runtime.settings
    now = runtime.clock.now()
    grace = timedelta(seconds=settings.orphan_grace_s)
    requests = await payment_store.unswept_intent_requests(conn, now - grace, _SWEEP_BATCH)
    if requests:
        # By age, not by time: the runtime's clock may run ahead of Stripe's (tests move it), ages are the same.
        oldest_age_s = (now - requests[0]["intent_requested_at"]).total_seconds()
        wall = time.time()
        intents, complete = await stripe.recent_payment_intents(
            stripe.gateway(runtime),
            created_from=int(wall - oldest_age_s - _CLOCK_SLACK_S),
            created_to=int(wall + _CLOCK_SLACK_S),
            max_pages=settings.orphan_sweep_max_pages,
        )
        await _settle_orphans(runtime, intents, [r["payment_id"] for r in requests])
        if complete:
            await payment_store.mark_swept(
                conn, [(r["payment_id"], r["intent_requested_at"]) for r in requests], runtime.clock.now()
            )
        else:
            log.warning(
                "orphan sweep: more intents at Stripe than %d pages; the rest next time",
                settings.orphan_sweep_max_pages,
            )
    await reschedule(
        conn,
        ORPHAN_SWEEP_JOB,
        ORPHAN_SWEEP_KEY,
        runtime.clock.now() + timedelta(seconds=settings.orphan_sweep_interval_s),
    )


async def _settle_orphans(runtime: Runtime, intents: list[stripe.PaymentIntent], payment_ids: list[str]) -> None:
    """Each intent of a payment looked for that is not its recorded one: attached, cancelled, or its money settled.

    Each in a statement or transaction of its own, none held while Stripe answers. Only intents of the requests
    looked for: a younger request's intent may still be on its way to being recorded.
    """
    candidates = {p["payment_id"]: p for p in await payment_store.payments_by_ids(runtime.db, payment_ids)}
    for intent in intents:
        payment = candidates.get(stripe.metadata_of(intent.metadata).get("payment_id"))
        if payment is None or payment["stripe_payment_intent_id"] == intent.id:
            continue  # another account's (a shared Stripe), or recorded
        # Read again: an attach a moment ago (this sweep's, or a buyer's retry) changes what this intent is.
        payment = await payment_store.payment_by_id(runtime.db, payment["payment_id"])
        if payment is None or payment["stripe_payment_intent_id"] == intent.id:
            continue
        await _settle_orphan(runtime, payment, intent)


async def _settle_orphan(runtime: Runtime, payment: asyncpg.Record, intent: stripe.PaymentIntent) -> None:
    now = runtime.clock.now()
    payment_id = payment["payment_id"]
    action = on_orphan(
        intent.status,
        stripe.attempt_of(intent.metadata),
        stored_intent=payment["stripe_payment_intent_id"],
        payment_attempt=payment["intent_attempt"],
        checkout_open=domain.is_open(payment["checkout_status"], payment["pay_by"], now),
    )
    if action == OrphanAction.ATTACH:
        stored = await payment_store.attach_intent(runtime.db, payment_id, intent.id, now)
        if stored == intent.id:
            log.warning("payment %s: attached Stripe intent %s, whose recording was lost", payment_id, intent.id)
            return
        action = OrphanAction.CANCEL  # another was recorded meanwhile: this one is surplus
    if action == OrphanAction.CANCEL:
        try:
            await stripe.cancel_payment_intent(stripe.gateway(runtime), intent.id)
            log.warning("payment %s: cancelled Stripe intent %s, which no order records", payment_id, intent.id)
        except stripe.InvalidRequest:
            # It moved since the listing (paid, or cancelled by someone else): the next sweep of its request, or
            # its webhook, sees where it went.
            current = await stripe.retrieve_payment_intent(stripe.gateway(runtime), intent.id)
            if current.status != "succeeded":
                return
            intent, action = current, OrphanAction.SETTLE
    if action == OrphanAction.SETTLE:
        # Money without a recorded intent: the payment's result path pays with it or gives it back, once.
        async with runtime.db.transaction() as conn:
            result = await payment_results.payment_succeeded(runtime, conn, payment, intent, now)
        payment_results.count_paid(runtime, result.paid)


__all__ = [
    "ensure_orphan_sweep",
    "expect_outcome",
    "reconcile_payment",
    "sweep_orphan_intents",
]
