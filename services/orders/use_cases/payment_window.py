"""The payment window closing (the `payment_timeout` job at pay_by): Stripe is asked first where the money is."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import reschedule
from libs.telemetry import names, tag
from services.orders import domain, store
from services.orders.adapters import stripe
from services.orders.domain import CheckoutStatus, SucceededOutcome, WindowAction
from services.orders.use_cases import payment_results

log = logging.getLogger(__name__)


class CancelRefused(Exception):
    """Stripe would not cancel an intent that should be cancellable; the scheduler runs the job again later."""


async def close_window(runtime: Runtime, conn: asyncpg.Connection, checkout_id: str) -> None:
    """At pay_by: learn from Stripe where the money is before touching the checkout; then pay, wait, or expire."""
    tag({names.CHECKOUT_ID: checkout_id})
    # A plain read: the job's transaction holds no lock while Stripe answers (a webhook may pay meanwhile).
    payment = await store.payment_of_checkout(conn, checkout_id)
    if payment is None or payment["checkout_status"] != CheckoutStatus.AWAITING_PAYMENT:
        return
    now, pay_by = runtime.clock.now(), payment["pay_by"]
    intent_id = payment["stripe_payment_intent_id"]
    if intent_id:
        # Retrieve before cancelling: a buyer in the middle of 3-D Secure, or a debit processing, is waited for.
        gateway = stripe.gateway(runtime)
        try:
            intent = await stripe.retrieve_payment_intent(gateway, intent_id)
            action = domain.on_window_closed(intent.status, now, pay_by)
            if action == WindowAction.CANCEL:
                # Cancelling is irreversible at Stripe: after it no money can come, so expiring below is safe, and
                # if the database fails after it, the job runs again and finds the intent cancelled.
                try:
                    intent = await stripe.cancel_payment_intent(gateway, intent_id)
                    action = domain.on_window_closed(intent.status, now, pay_by)
                except stripe.InvalidRequest as exc:
                    if stripe.is_unknown(exc):
                        raise
                    # The buyer paid (or began to) since we looked, or a previous run cancelled it: see which.
                    intent = await stripe.retrieve_payment_intent(gateway, intent_id)
                    action = domain.on_window_closed(intent.status, now, pay_by, cancel_refused=True)
        except stripe.InvalidRequest as exc:
            if not stripe.is_unknown(exc):
                raise
            # Stripe does not know the intent (a dev stack's in-memory Stripe restarted, or another account): no
            # money can come through it, so this is as final as a cancelled one. Asking again would never help.
            log.warning(
                "checkout %s: Stripe does not know its payment intent %s; expiring the checkout as unpaid",
                checkout_id,
                intent_id,
            )
            await _expire(runtime, conn, checkout_id, now)
            return
        if action == WindowAction.RETRY:
            raise CancelRefused(f"Stripe refused to cancel intent {intent_id} (status {intent.status})")
        if action == WindowAction.WAIT:
            log.info("checkout %s: payment %s at Stripe; looking again later", checkout_id, intent.status)
            await reschedule(conn, domain.PAYMENT_TIMEOUT_JOB, checkout_id, now + domain.IN_FLIGHT_RECHECK)
            return
        if action == WindowAction.PAY:
            result = await payment_results.payment_succeeded(runtime, conn, payment, intent, now)
            # The scheduler commits as soon as this returns; a job has no later moment to count in.
            payment_results.count_paid(runtime, result.paid)
            if result.outcome != SucceededOutcome.MISMATCH:
                return
            # The wrong amount goes back (scheduled above) and the window is closed: expire like an unpaid one.
    await _expire(runtime, conn, checkout_id, now)


async def _expire(runtime: Runtime, conn: asyncpg.Connection, checkout_id: str, now: datetime) -> None:
    """Unpaid at pay_by: expire the checkout, cancel every order (shop or live takes the units back) and give their
    coupons back while still valid."""
    if not await store.close_checkout(conn, checkout_id, CheckoutStatus.EXPIRED, now):
        return
    reason = domain.CANCEL_REASON_PAYMENT_TIMEOUT
    cancelled = await store.cancel_orders(conn, checkout_id, reason, now)
    for order in cancelled:
        await payment_results.announce(runtime, conn, order, domain.cancelled_event(order, reason, now))
    await store.give_back_coupons(conn, [o.order_id for o in cancelled if o.coupon_id], now)
