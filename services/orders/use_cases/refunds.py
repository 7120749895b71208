"""Refunds of money orders does not keep (the `refund_payment` job, per PaymentIntent): retried until Stripe agrees."""

from __future__ import annotations

import logging

import asyncpg

from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.orders import store
from services.orders.adapters import stripe
from services.orders.domain import PaymentStatus, RefundReason

log = logging.getLogger(__name__)


async def refund(runtime: Runtime, conn: asyncpg.Connection, intent_id: str) -> None:
    """Give back in full what one PaymentIntent took; the scheduler retries, with backoff, until Stripe agrees."""
    owed = await store.pending_refund(conn, intent_id)
    if owed is None:
        return
    payment_id = owed["payment_id"]
    tag({names.PAYMENT_ID: payment_id})
    gateway = stripe.gateway(runtime)
    # An earlier try may have made the refund and died before recording it (localstripe, unlike Stripe, honours no
    # idempotency key and would refund again): read the intent's refunds back first, as grants do.
    try:
        earlier = stripe.full_refund_of(await stripe.refunds_of_intent(gateway, intent_id), payment_id)
    except stripe.InvalidRequest:
        earlier = None  # Stripe will not list them (e.g. it does not know the intent): the refund's answer says why
    try:
        made = earlier or await stripe.refund_payment_intent(gateway, intent_id, payment_id)
        refund_id: str | None = made.id
    except stripe.InvalidRequest as exc:
        if exc.code != stripe.ALREADY_REFUNDED:
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
