"""Stripe's webhooks: verified, deduplicated by event id, applied through `payment_results` like the payment-window
job; refund events settle the pending grant named in the refund's metadata as the `refund_grant` job would."""

from __future__ import annotations

import asyncpg
import msgspec
from opentelemetry.trace import SpanKind

from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, link_to, names
from services.orders import domain, store
from services.orders.adapters import stripe
from services.orders.domain import PaymentStatus, SucceededOutcome
from services.orders.domain.refusals import InvalidEvent, InvalidSignature
from services.orders.store import grants as grant_store
from services.orders.use_cases import grants, payment_results
from services.orders.views import WebhookAck

_ACK = {
    SucceededOutcome.PAY: "paid",
    SucceededOutcome.REFUND: "refunding",
    SucceededOutcome.MISMATCH: "amount_mismatch",
    SucceededOutcome.SUPERSEDED: "refunding",
    SucceededOutcome.IGNORE: "ignored",
}


async def receive_stripe_event(runtime: Runtime, payload: bytes, signature: str | None) -> WebhookAck:
    """Verify, deduplicate and apply one Stripe event; anything we do not know is acknowledged and ignored."""
    settings = runtime.settings
    try:
        stripe.verify_signature(payload, signature, settings.stripe_webhook_secret, settings.stripe_webhook_tolerance_s)
    except stripe.SignatureError as exc:
        raise InvalidSignature() from exc
    try:
        event = msgspec.json.decode(payload, type=stripe.StripeEvent)
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"not a Stripe event: {exc}") from exc
    except RecursionError as exc:
        # Signed is not sane: msgspec recurses once per level, even through fields it skips.
        raise InvalidEvent("not a Stripe event: nested too deeply") from exc
    if event.type in stripe.REFUND_EVENTS and event.data.object.object in ("refund", ""):
        return await _refund_changed(runtime, event)
    if event.type not in (stripe.SUCCEEDED, stripe.FAILED) or event.data.object.object not in ("payment_intent", ""):
        return WebhookAck(status="ignored")
    intent = event.data.object
    payment = await store.payment_for_intent(runtime.db, intent.id, intent.metadata_str("payment_id"))
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
        if event.type == stripe.SUCCEEDED:
            return await _payment_succeeded(runtime, event, payment)
        return await _payment_failed(runtime, event, payment)


async def _payment_succeeded(runtime: Runtime, event: stripe.StripeEvent, payment: asyncpg.Record) -> WebhookAck:
    intent = event.data.object
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        if not await store.record_stripe_event(conn, event.id, event.type, payment["payment_id"], now):
            return WebhookAck(status="duplicate")
        result = await payment_results.payment_succeeded(runtime, conn, payment, intent, now)
    payment_results.count_paid(runtime, result.paid)
    return WebhookAck(status=_ACK[result.outcome])


async def _payment_failed(runtime: Runtime, event: stripe.StripeEvent, payment: asyncpg.Record) -> WebhookAck:
    """The buyer may try again while the window is open; the orders wait."""
    intent = event.data.object
    if domain.is_superseded(
        payment["stripe_payment_intent_id"], payment["intent_attempt"], intent.id, stripe.attempt_of(intent.metadata)
    ):
        # A late failure of an intent given up says nothing about the payment's current one.
        return WebhookAck(status="ignored")
    error = (intent.last_payment_error or {}).get("message")
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        if not await store.record_stripe_event(conn, event.id, event.type, payment["payment_id"], now):
            return WebhookAck(status="duplicate")
        moved = await store.move_payment(
            conn, payment["payment_id"], PaymentStatus.FAILED, now, error=str(error)[:500] if error else None
        )
    return WebhookAck(status="failed" if moved else "ignored")


async def _refund_changed(runtime: Runtime, event: stripe.StripeEvent) -> WebhookAck:
    """A refund of ours reached a final status: settle its grant (once; the job finds it settled and stops)."""
    refund = event.data.object
    grant_id = refund.metadata_str(stripe.GRANT_ID)
    if not grant_id or not is_uuid(grant_id):
        # Not a grant's refund (a whole-intent refund, or another account's): nothing to settle.
        return WebhookAck(status="ignored")
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        grant = await grant_store.grant_by_id(conn, grant_id)
        if grant is None or (grant["stripe_refund_id"] and grant["stripe_refund_id"] != refund.id):
            return WebhookAck(status="ignored")
        if not await store.record_stripe_event(conn, event.id, event.type, None, now):
            return WebhookAck(status="duplicate")
        status = refund.text("status") or ""
        settled = await grants.settle(
            runtime, conn, grant_id, refund.id or None, status, refund.text("failure_reason"), now
        )
    if not settled:
        return WebhookAck(status="ignored")
    return WebhookAck(status="refunded" if status == "succeeded" else "refund_failed")
