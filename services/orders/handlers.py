"""Reactions: Stripe's webhooks, and the deadlines orders keeps (payment timeout, refund after cancel)."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import msgspec
import stripe
from opentelemetry.trace import SpanKind

from libs.bus import add_events
from libs.contracts import Event
from libs.scheduler import JobHandler, cancel, schedule
from libs.telemetry import baggage_set, link_to, names
from libs.web.app import Runtime
from libs.web.problems import Problem
from services.orders import context, domain, payments, store
from services.orders.domain import CheckoutStatus, PaymentStatus, StoredOrder, SucceededOutcome
from services.orders.views import WebhookAck

log = logging.getLogger(__name__)

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
_ACK = {SucceededOutcome.PAY: "paid", SucceededOutcome.REFUND: "refunding", SucceededOutcome.IGNORE: "ignored"}


class StripeObject(msgspec.Struct, kw_only=True):
    id: str = ""
    object: str = ""
    amount: int | None = None
    currency: str | None = None
    metadata: dict[str, Any] = {}
    last_payment_error: dict[str, Any] | None = None


class StripeEventData(msgspec.Struct, kw_only=True):
    object: StripeObject


class StripeEvent(msgspec.Struct, kw_only=True):
    id: str
    type: str
    data: StripeEventData


# --- webhook ----------------------------------------------------------------------------------


async def stripe_webhook(runtime: Runtime, payload: bytes, signature: str | None) -> WebhookAck:
    """Verify, deduplicate and apply one Stripe event; anything we do not know is acknowledged and ignored."""
    settings = runtime.settings
    try:
        payments.verify_signature(
            payload, signature, settings.stripe_webhook_secret, settings.stripe_webhook_tolerance_s
        )
    except payments.SignatureError as exc:
        raise Problem(400, "invalid-signature", "the Stripe-Signature header is missing, wrong or stale") from exc
    try:
        event = msgspec.json.decode(payload, type=StripeEvent)
    except msgspec.DecodeError as exc:
        raise Problem(400, "invalid-event", f"not a Stripe event: {exc}") from exc
    if event.type not in (SUCCEEDED, FAILED) or event.data.object.object not in ("payment_intent", ""):
        return WebhookAck(status="ignored")
    intent = event.data.object
    payment = await store.payment_for_intent(runtime.db, intent.id, _metadata(intent, "payment_id"))
    if payment is None:
        # Not ours (a shared Stripe account or emulator): acknowledge, or Stripe retries forever.
        return WebhookAck(status="ignored")
    tracer = runtime.telemetry.tracer
    room_id = payment["room_id"]
    # Baggage first: spans started inside it (and the outbox rows written there) carry the room.
    with (
        baggage_set(**{names.ROOM_ID: room_id}),
        tracer.start_as_current_span(
            f"stripe {event.type} process",
            kind=SpanKind.CONSUMER,
            links=link_to(payment["trace_headers"]),
            attributes={
                names.PAYMENT_ID: payment["payment_id"],
                names.CHECKOUT_ID: payment["checkout_id"],
                names.AMOUNT_MINOR: payment["amount_minor"],
                names.CURRENCY: payment["currency"],
                "stripe.event.id": event.id,
                **({names.ROOM_ID: room_id} if room_id else {}),
            },
        ),
    ):
        if event.type == SUCCEEDED:
            return await _payment_succeeded(runtime, event, payment)
        return await _payment_failed(runtime, event, payment)


def _metadata(intent: StripeObject, key: str) -> str | None:
    value = intent.metadata.get(key)
    return value if isinstance(value, str) else None


async def _payment_succeeded(runtime: Runtime, event: StripeEvent, payment: asyncpg.Record) -> WebhookAck:
    intent = event.data.object
    if not domain.amount_matches(payment["amount_minor"], payment["currency"], intent.amount, intent.currency):
        log.error(
            "payment %s: Stripe charged %s %s, expected %s %s",
            payment["payment_id"],
            intent.amount,
            intent.currency,
            payment["amount_minor"],
            payment["currency"],
        )
        return WebhookAck(status="ignored")
    payment_id, checkout_id = payment["payment_id"], payment["checkout_id"]
    now = runtime.clock.now()
    paid: list[StoredOrder] = []
    async with runtime.db.transaction() as conn:
        if not await store.record_stripe_event(conn, event.id, event.type, payment_id, now):
            return WebhookAck(status="duplicate")
        # The row lock orders us against the payment-timeout job: one of the two decides.
        checkout_status, payment_status = await store.lock_checkout(conn, checkout_id)
        outcome = domain.on_payment_succeeded(checkout_status, payment_status)
        if outcome == SucceededOutcome.PAY:
            await store.move_payment(conn, payment_id, PaymentStatus.SUCCEEDED, now, intent_id=intent.id)
            paid = await store.pay_orders(conn, checkout_id, now)
            for order in paid:
                await _announce(runtime, conn, order, domain.paid_event(order, payment_id, now))
            await store.close_checkout(conn, checkout_id, CheckoutStatus.PAID, now)
            await cancel(conn, domain.PAYMENT_TIMEOUT_JOB, checkout_id)
        elif outcome == SucceededOutcome.REFUND:
            await store.move_payment(conn, payment_id, PaymentStatus.SUCCEEDED_AFTER_CANCEL, now, intent_id=intent.id)
            await schedule(conn, domain.REFUND_JOB, payment_id, now)
    if paid:
        meters = context.instruments(runtime)
        meters.orders_paid.add(len(paid), {names.CURRENCY: payment["currency"]})
        meters.gmv_paid.add(sum(o.amount_minor for o in paid), {names.CURRENCY: payment["currency"]})
    return WebhookAck(status=_ACK[outcome])


async def _payment_failed(runtime: Runtime, event: StripeEvent, payment: asyncpg.Record) -> WebhookAck:
    """The buyer may try again while the window is open; the orders wait."""
    error = (event.data.object.last_payment_error or {}).get("message")
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        if not await store.record_stripe_event(conn, event.id, event.type, payment["payment_id"], now):
            return WebhookAck(status="duplicate")
        moved = await store.move_payment(
            conn, payment["payment_id"], PaymentStatus.FAILED, now, error=str(error)[:500] if error else None
        )
    return WebhookAck(status="failed" if moved else "ignored")


# --- deadlines --------------------------------------------------------------------------------


def jobs(runtime: Runtime) -> dict[str, JobHandler]:
    """The due-job kinds orders runs."""

    async def payment_timeout(conn: asyncpg.Connection, checkout_id: str, _: dict) -> None:
        """Unpaid at pay_by: cancel every order (shop releases their stock) and retire the PaymentIntent."""
        now = runtime.clock.now()
        if not await store.close_checkout(conn, checkout_id, CheckoutStatus.EXPIRED, now):
            return
        cancelled = await store.cancel_orders(conn, checkout_id, domain.CANCEL_REASON_PAYMENT_TIMEOUT, now)
        for order in cancelled:
            await _announce(
                runtime, conn, order, domain.cancelled_event(order, domain.CANCEL_REASON_PAYMENT_TIMEOUT, now)
            )
        payment = await store.payment_of_checkout(conn, checkout_id)
        if payment is not None and payment["stripe_payment_intent_id"]:
            await _cancel_intent_quietly(runtime, payment["stripe_payment_intent_id"], payment["payment_id"])

    async def refund_payment(conn: asyncpg.Connection, payment_id: str, _: dict) -> None:
        """Money taken for a cancelled checkout goes back in full; retried by the scheduler until Stripe agrees."""
        payment = await store.payment_by_id(conn, payment_id)
        if payment is None or payment["status"] != PaymentStatus.SUCCEEDED_AFTER_CANCEL:
            return
        refund = await payments.refund_payment_intent(
            context.gateway(runtime), payment["stripe_payment_intent_id"], payment_id
        )
        await store.move_payment(conn, payment_id, PaymentStatus.REFUNDED, runtime.clock.now(), refund_id=refund.id)

    return {domain.PAYMENT_TIMEOUT_JOB: payment_timeout, domain.REFUND_JOB: refund_payment}


async def _announce(runtime: Runtime, conn: asyncpg.Connection, order: StoredOrder, event: Event) -> None:
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


async def _cancel_intent_quietly(runtime: Runtime, intent_id: str, payment_id: str) -> None:
    # Best effort: if the buyer paid at the last second, cancel fails and the webhook refunds instead.
    try:
        await payments.cancel_payment_intent(context.gateway(runtime), intent_id)
    except stripe.StripeError as exc:
        log.info("payment %s: intent not cancelled (%s)", payment_id, type(exc).__name__)
