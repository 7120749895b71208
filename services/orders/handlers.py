"""Stripe's webhooks: verified, deduplicated by event id, applied through `settle` like the payment-window job."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
from opentelemetry.trace import SpanKind

from libs.runtime import Runtime
from libs.telemetry import baggage_set, link_to, names
from libs.web.problems import Problem
from services.orders import payments, settle, store
from services.orders.domain import PaymentStatus, SucceededOutcome
from services.orders.views import WebhookAck

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"
_ACK = {
    SucceededOutcome.PAY: "paid",
    SucceededOutcome.REFUND: "refunding",
    SucceededOutcome.MISMATCH: "amount_mismatch",
    SucceededOutcome.IGNORE: "ignored",
}


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
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        if not await store.record_stripe_event(conn, event.id, event.type, payment["payment_id"], now):
            return WebhookAck(status="duplicate")
        settled = await settle.payment_succeeded(
            runtime, conn, payment, intent_id=intent.id, amount_minor=intent.amount, currency=intent.currency, now=now
        )
    settle.count_paid(runtime, settled.paid)
    return WebhookAck(status=_ACK[settled.outcome])


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
