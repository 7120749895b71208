"""Money Stripe took, recorded once under the checkout lock: the checkout is paid, or the money is owed back (paid
after the window closed, or the wrong amount). Shared by the webhook and the payment-window job."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from libs.bus import add_events
from libs.contracts import Event
from libs.runtime import Runtime
from libs.scheduler import cancel, schedule
from libs.telemetry import baggage_set, names
from services.orders import domain, store
from services.orders.adapters import stripe
from services.orders.adapters.counters import counters
from services.orders.domain import CheckoutStatus, PaymentStatus, RefundReason, StoredOrder, SucceededOutcome
from services.orders.domain.recovery import RECONCILE_JOB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PaymentResult:
    """What Stripe's money meant for the checkout, and the orders it paid."""

    outcome: SucceededOutcome
    paid: list[StoredOrder] = field(default_factory=list)


async def payment_succeeded(
    runtime: Runtime, conn: asyncpg.Connection, payment: asyncpg.Record, intent: stripe.PaymentIntent, now: datetime
) -> PaymentResult:
    """Stripe says `intent` (made for the attempt its metadata names) took this money: pay the checkout, or owe the
    money back, or nothing if known."""
    intent_id, intent_attempt = intent.id, stripe.attempt_of(intent.metadata)
    amount_minor, currency = intent.amount, intent.currency
    payment_id, checkout_id = payment["payment_id"], payment["checkout_id"]
    # The row lock orders the webhook and the payment-window job: whichever comes second sees the first's result.
    locked = await store.lock_checkout(conn, checkout_id)
    if domain.is_superseded(locked["stripe_payment_intent_id"], locked["intent_attempt"], intent_id, intent_attempt):
        # Never two charges for one checkout: an intent given up (or a twin never stored) that took money anyway
        # gives it back, whatever the checkout's own payment does.
        log.warning("payment %s: superseded Stripe intent %s took money; refunding it", payment_id, intent_id)
        await _owe_refund(conn, payment, intent_id, RefundReason.SUPERSEDED, amount_minor, currency, now)
        return PaymentResult(SucceededOutcome.SUPERSEDED)
    amount_ok = domain.amount_matches(payment["amount_minor"], payment["currency"], amount_minor, currency)
    outcome = domain.on_payment_succeeded(locked["checkout_status"], locked["payment_status"], amount_ok=amount_ok)
    if outcome == SucceededOutcome.PAY:
        await store.move_payment(conn, payment_id, PaymentStatus.SUCCEEDED, now, intent_id=intent_id)
        ship_by = now + timedelta(seconds=runtime.settings.ship_within_s)
        paid = await store.pay_orders(conn, checkout_id, now, ship_by=ship_by)
        for order in paid:
            await announce(runtime, conn, order, domain.paid_event(order, payment_id, now))
        await store.close_checkout(conn, checkout_id, CheckoutStatus.PAID, now)
        await cancel(conn, domain.PAYMENT_TIMEOUT_JOB, checkout_id)
        await cancel(conn, RECONCILE_JOB, payment_id)
        return PaymentResult(outcome, paid)
    if outcome == SucceededOutcome.REFUND:
        await store.move_payment(conn, payment_id, PaymentStatus.SUCCEEDED_AFTER_CANCEL, now, intent_id=intent_id)
        await _owe_refund(conn, payment, intent_id, RefundReason.PAID_AFTER_EXPIRY, amount_minor, currency, now)
    elif outcome == SucceededOutcome.MISMATCH:
        log.error(
            "payment %s: Stripe intent %s took %s %s, expected %s %s; refunding it",
            payment_id,
            intent_id,
            amount_minor,
            currency,
            payment["amount_minor"],
            payment["currency"],
        )
        await store.move_payment(conn, payment_id, PaymentStatus.AMOUNT_MISMATCH, now)
        if locked["stripe_payment_intent_id"] == intent_id:
            await store.detach_intent(conn, payment_id, intent_id, now)
        await _owe_refund(conn, payment, intent_id, RefundReason.AMOUNT_MISMATCH, amount_minor, currency, now)
    return PaymentResult(outcome)


async def _owe_refund(
    conn: asyncpg.Connection,
    payment: asyncpg.Record,
    intent_id: str,
    reason: RefundReason,
    amount_minor: int | None,
    currency: str | None,
    now: datetime,
) -> None:
    if await store.owe_refund(conn, intent_id, payment["payment_id"], reason, amount_minor, currency, now):
        await schedule(conn, domain.REFUND_JOB, intent_id, now)


def count_paid(runtime: Runtime, paid: list[StoredOrder]) -> None:
    """Count orders that became paid (call once their transaction is committed, or as close to it as possible)."""
    if not paid:
        return
    meters = counters(runtime)
    currency = paid[0].currency
    meters.orders_paid.add(len(paid), {names.CURRENCY: currency})
    meters.gmv_paid.add(sum(o.amount_minor for o in paid), {names.CURRENCY: currency})


async def announce(runtime: Runtime, conn: asyncpg.Connection, order: StoredOrder, event: Event) -> None:
    """Write one order's event under that order's room and id, so every later hop is attributable."""
    with (
        baggage_set(**{names.ROOM_ID: order.room_id}),
        runtime.telemetry.tracer.start_as_current_span(
            f"order {event.SUBJECT.split('.')[2]}",
            attributes={
                names.ORDER_ID: order.order_id,
                names.MERCHANT_ID: order.merchant_id,
                names.AMOUNT_MINOR: order.amount_minor,
                names.CURRENCY: order.currency,
            },
        ),
    ):
        await add_events(conn, event)
