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
    try:
        made = await stripe.refund_payment_intent(stripe.gateway(runtime), intent_id, payment_id)
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
