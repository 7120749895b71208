"""Paying a checkout: its one PaymentIntent, and the buyer's confirm; the orders are paid when Stripe says so."""

from __future__ import annotations

import logging

from libs.errors import NotFound, PaymentFailed
from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.orders import domain, store
from services.orders.adapters import stripe
from services.orders.domain.refusals import InvalidPaymentMethod, PaymentProviderUnavailable, PaymentWindowClosed
from services.orders.views import ConfirmView

log = logging.getLogger(__name__)

# Stripe has the money, or is taking it: a confirm that finds the intent here has nothing left to do.
_PAID_OR_PAYING = ("succeeded", "processing", "requires_capture")


async def confirm_payment(runtime: Runtime, *, buyer_id: str, payment_id: str, payment_method: str) -> ConfirmView:
    """Attach the buyer's payment method and confirm; the order is paid only when Stripe's webhook says so.

    Safe to retry: a confirm that finds the payment made, or being made, answers with its status and charges nothing.
    """
    row = await store.payment_for_buyer(runtime.db, payment_id, buyer_id) if is_uuid(payment_id) else None
    if row is None:
        raise NotFound("no such payment")
    tag({names.PAYMENT_ID: payment_id, names.CHECKOUT_ID: row["checkout_id"]})
    if row["status"] == domain.PaymentStatus.SUCCEEDED:
        return ConfirmView(payment_id=payment_id, status=domain.PaymentStatus.SUCCEEDED)
    domain.ensure_payable(row["checkout_status"], row["status"], row["pay_by"], runtime.clock.now())
    gateway = stripe.gateway(runtime)
    try:
        intent = await ensure_payment_intent(
            runtime, payment_id, row["checkout_id"], row["amount_minor"], row["currency"]
        )
        if intent.status not in _PAID_OR_PAYING and intent.status != "canceled":
            try:
                intent = await stripe.confirm_payment_intent(gateway, intent.id, payment_method)
            except stripe.InvalidRequest:
                # A concurrent confirm (or the window's job) moved the intent since we read it: answer from where
                # it is now; anything else is the payment method's fault.
                intent = await stripe.retrieve_payment_intent(gateway, intent.id)
                if intent.status not in _PAID_OR_PAYING and intent.status != "canceled":
                    raise
        if intent.status == "canceled":
            raise PaymentWindowClosed("the payment window of this checkout has closed")
    except stripe.CardError as exc:
        raise PaymentFailed(exc.user_message or "the card was declined", field="payment_method") from exc
    except stripe.InvalidRequest as exc:
        raise InvalidPaymentMethod(
            exc.user_message or "Stripe refused the payment method", field="payment_method"
        ) from exc
    except stripe.StripeError as exc:
        log.warning("stripe unavailable confirming payment %s: %s", payment_id, type(exc).__name__)
        raise PaymentProviderUnavailable() from exc
    return ConfirmView(payment_id=payment_id, status=intent.status)


async def ensure_payment_intent(
    runtime: Runtime, payment_id: str, checkout_id: str, amount_minor: int, currency: str
) -> stripe.PaymentIntent:
    """The checkout's one PaymentIntent: the stored one, or a new one stored before anything else uses it."""
    gateway = stripe.gateway(runtime)
    row = await store.payment_by_id(runtime.db, payment_id)
    if row is not None and row["stripe_payment_intent_id"]:
        return await stripe.retrieve_payment_intent(gateway, row["stripe_payment_intent_id"])
    intent = await stripe.create_payment_intent(
        gateway,
        amount_minor=amount_minor,
        currency=currency,
        checkout_id=checkout_id,
        payment_id=payment_id,
        attempt=row["intent_attempt"] if row is not None else 0,
    )
    stored = await store.attach_intent(runtime.db, payment_id, intent.id, runtime.clock.now())
    if stored != intent.id:
        # A concurrent twin stored its intent first (Stripe would have deduplicated by key; localstripe
        # does not): retire ours so only one can ever take money.
        try:
            await stripe.cancel_payment_intent(gateway, intent.id)
        except stripe.StripeError:
            log.warning("could not cancel surplus payment intent for payment %s", payment_id)
        return await stripe.retrieve_payment_intent(gateway, stored)
    return intent
