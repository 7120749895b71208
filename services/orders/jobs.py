"""The deadlines orders keeps: the payment window (settled with Stripe first), and refunds of money not kept."""

from __future__ import annotations

import logging
from datetime import datetime

import asyncpg
from opentelemetry import trace

from libs.runtime import Runtime
from libs.scheduler import JobHandler, reschedule
from libs.telemetry import names
from services.orders import context, domain, payments, settle, store
from services.orders.domain import CheckoutStatus, PaymentStatus, RefundReason, SucceededOutcome, WindowAction

log = logging.getLogger(__name__)


class CancelRefused(Exception):
    """Stripe would not cancel an intent that should be cancellable; the scheduler runs the job again later."""


def jobs(runtime: Runtime) -> dict[str, JobHandler]:
    """The due-job kinds orders runs."""

    async def payment_timeout(conn: asyncpg.Connection, checkout_id: str, _: dict) -> None:
        await close_window(runtime, conn, checkout_id)

    async def refund_payment(conn: asyncpg.Connection, intent_id: str, _: dict) -> None:
        await refund(runtime, conn, intent_id)

    return {domain.PAYMENT_TIMEOUT_JOB: payment_timeout, domain.REFUND_JOB: refund_payment}


async def close_window(runtime: Runtime, conn: asyncpg.Connection, checkout_id: str) -> None:
    """At pay_by: learn from Stripe where the money is before touching the checkout; then pay, wait, or expire."""
    trace.get_current_span().set_attribute(names.CHECKOUT_ID, checkout_id)
    # A plain read: the job's transaction holds no lock while Stripe answers (a webhook may pay meanwhile).
    payment = await store.payment_of_checkout(conn, checkout_id)
    if payment is None or payment["checkout_status"] != CheckoutStatus.AWAITING_PAYMENT:
        return
    now, pay_by = runtime.clock.now(), payment["pay_by"]
    intent_id = payment["stripe_payment_intent_id"]
    if intent_id:
        # Retrieve before cancelling: a buyer in the middle of 3-D Secure, or a debit processing, is waited for.
        gateway = context.gateway(runtime)
        intent = await payments.retrieve_payment_intent(gateway, intent_id)
        action = domain.on_window_closed(intent.status, now, pay_by)
        if action == WindowAction.CANCEL:
            # Cancelling is irreversible at Stripe: after it no money can come, so expiring below is safe, and if
            # the database fails after it, the job runs again and finds the intent cancelled.
            try:
                intent = await payments.cancel_payment_intent(gateway, intent_id)
                action = domain.on_window_closed(intent.status, now, pay_by)
            except payments.InvalidRequest:
                # The buyer paid (or began to) since we looked, or a previous run cancelled it: see which.
                intent = await payments.retrieve_payment_intent(gateway, intent_id)
                action = domain.on_window_closed(intent.status, now, pay_by, cancel_refused=True)
        if action == WindowAction.RETRY:
            raise CancelRefused(f"Stripe refused to cancel intent {intent_id} (status {intent.status})")
        if action == WindowAction.WAIT:
            log.info("checkout %s: payment %s at Stripe; looking again later", checkout_id, intent.status)
            await reschedule(conn, domain.PAYMENT_TIMEOUT_JOB, checkout_id, now + domain.SETTLE_RETRY)
            return
        if action == WindowAction.PAY:
            settled = await settle.payment_succeeded(
                runtime,
                conn,
                payment,
                intent_id=intent.id,
                amount_minor=intent.amount,
                currency=intent.currency,
                now=now,
            )
            # The scheduler commits as soon as this returns; a job has no later moment to count in.
            settle.count_paid(runtime, settled.paid)
            if settled.outcome != SucceededOutcome.MISMATCH:
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
        await settle.announce(runtime, conn, order, domain.cancelled_event(order, reason, now))
    await store.give_back_coupons(conn, [o.order_id for o in cancelled if o.coupon_id], now)


async def refund(runtime: Runtime, conn: asyncpg.Connection, intent_id: str) -> None:
    """Give back in full what one PaymentIntent took; the scheduler retries, with backoff, until Stripe agrees."""
    owed = await store.pending_refund(conn, intent_id)
    if owed is None:
        return
    payment_id = owed["payment_id"]
    trace.get_current_span().set_attribute(names.PAYMENT_ID, payment_id)
    try:
        made = await payments.refund_payment_intent(context.gateway(runtime), intent_id, payment_id)
        refund_id: str | None = made.id
    except payments.InvalidRequest as exc:
        if exc.code != payments.ALREADY_REFUNDED:
            # Retrying may not help (Stripe said no, not 'try later'): an operator has to look.
            log.error(
                "payment %s: Stripe refuses to refund intent %s (%s: %s); retrying with backoff",
                payment_id,
                intent_id,
                exc.code,
                exc.user_message,
            )
            raise
        # Refunded by other means (the dashboard, or an earlier attempt whose answer we lost): it is done.
        log.warning("payment %s: intent %s was already refunded at Stripe", payment_id, intent_id)
        refund_id = None
    now = runtime.clock.now()
    await store.mark_refunded(conn, intent_id, refund_id, now)
    if owed["reason"] == RefundReason.PAID_AFTER_EXPIRY:
        await store.move_payment(conn, payment_id, PaymentStatus.REFUNDED, now, refund_id=refund_id)
