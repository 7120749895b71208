"""Paying a checkout: its one PaymentIntent, and the buyer's confirm; the orders are paid when Stripe says so."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import asyncpg

from libs.errors import NotFound, PaymentFailed
from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, link_current, names, tag
from services.orders import domain, store
from services.orders.adapters import stripe
from services.orders.domain.refusals import (
    ConfirmInProgress,
    InvalidPaymentMethod,
    PaymentProviderUnavailable,
    PaymentWindowClosed,
)
from services.orders.store import payments as payment_store
from services.orders.use_cases.recovery import expect_outcome
from services.orders.views import ConfirmView

log = logging.getLogger(__name__)

# Stripe has the money, or is taking it: a confirm that finds the intent here has nothing left to do.
_PAID_OR_PAYING = ("succeeded", "processing", "requires_capture")
# How many intents one confirm looks at before answering 503 (each after the first needs the last one given up).
_MAX_INTENTS = 4
# How long a confirm's claim on its payment holds if its process dies (or its database goes away) before releasing
# it, and how long a second confirm waits for the first before answering 409 `confirm-in-progress`: longer than the
# claim, so the app's retry of a confirm whose process died waits the dead claim out and pays, instead of being told
# that a confirm nobody is running is under way. How often it looks.
CONFIRM_CLAIM_S = 10
CONFIRM_WAIT_S = 12.0
_CLAIM_POLL_S = 0.05


async def confirm_payment(runtime: Runtime, *, buyer_id: str, payment_id: str, payment_method: str) -> ConfirmView:
    """Attach the buyer's payment method and confirm; the order is paid only when Stripe's webhook says so.

    Safe to retry: a confirm that finds the payment made, or being made, answers with its status and charges nothing.
    """
    row = await store.payment_for_buyer(runtime.db, payment_id, buyer_id) if is_uuid(payment_id) else None
    if row is None:
        raise NotFound("no such payment")
    # The confirm's trace leads back to the checkout's (a link: another request, another trace) and carries the room
    # the checkout's lines name, from what orders stored, not from anything the client sends again.
    tag({names.PAYMENT_ID: payment_id, names.CHECKOUT_ID: row["checkout_id"], names.ROOM_ID: row["room_id"]})
    link_current(row["trace_headers"])
    if row["status"] == domain.PaymentStatus.SUCCEEDED:
        return ConfirmView(payment_id=payment_id, status=domain.PaymentStatus.SUCCEEDED)
    domain.ensure_payable(row["checkout_status"], row["status"], row["pay_by"], runtime.clock.now())
    # One confirm of a payment at a time: attaching the card and confirming are two calls to Stripe, and another
    # confirm between them would have this one charged with its card. A second confirm waits its turn, then answers
    # from where the first left the payment (paid: its status; declined: it tries its own card).
    claimed_until = await _claim(runtime, payment_id)
    try:
        row = await store.payment_for_buyer(runtime.db, payment_id, buyer_id)
        assert row is not None
        if row["status"] == domain.PaymentStatus.SUCCEEDED:
            return ConfirmView(payment_id=payment_id, status=domain.PaymentStatus.SUCCEEDED)
        domain.ensure_payable(row["checkout_status"], row["status"], row["pay_by"], runtime.clock.now())
        return await _confirm_claimed(runtime, row, payment_id, payment_method)
    finally:
        await payment_store.release_confirm(runtime.db, payment_id, claimed_until)


async def _claim(runtime: Runtime, payment_id: str) -> datetime:
    """Claim the payment for this confirm, waiting (up to CONFIRM_WAIT_S) while another confirm holds it; when."""
    waited = 0.0
    while True:
        now = runtime.clock.now()
        until = now + timedelta(seconds=CONFIRM_CLAIM_S)
        if await payment_store.claim_confirm(runtime.db, payment_id, now, until):
            return until
        if waited >= CONFIRM_WAIT_S:
            raise ConfirmInProgress()
        await asyncio.sleep(_CLAIM_POLL_S)
        waited += _CLAIM_POLL_S


async def _confirm_claimed(runtime: Runtime, row: asyncpg.Record, payment_id: str, payment_method: str) -> ConfirmView:
    # Stripe is asked about this payment a little later unless its webhook comes first: written before the confirm
    # reaches Stripe, so a process that dies after it, or a webhook that is lost, still leads to the outcome.
    await expect_outcome(runtime, None, payment_id)
    try:
        with baggage_set(**{names.ROOM_ID: row["room_id"]}):
            intent = await _pay(runtime, row, payment_method)
        # Again now that Stripe has answered, in case the look above ran (and stopped) before the confirm landed.
        await expect_outcome(runtime, None, payment_id)
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


async def _pay(runtime: Runtime, row: asyncpg.Record, payment_method: str) -> stripe.PaymentIntent:
    """Confirm the checkout's live intent with the payment method; an intent that takes no more confirmations is
    given up for a fresh one, so the buyer can pay again after a decline."""
    gateway = stripe.gateway(runtime)
    payment_id = row["payment_id"]
    for _ in range(_MAX_INTENTS):
        intent = await ensure_payment_intent(
            runtime, payment_id, row["checkout_id"], row["amount_minor"], row["currency"]
        )
        if intent.status in _PAID_OR_PAYING or intent.status == "canceled":
            return intent
        try:
            intent = await stripe.set_payment_method(gateway, intent.id, payment_method)
            if intent.status == "requires_payment_method":
                # Given a payment method, a Stripe intent whose charge was declined is ready to confirm again;
                # localstripe keeps it where it is and refuses every confirm. Give it up for a fresh one.
                settled = await _give_up(runtime, payment_id, intent.id)
                if settled is not None:
                    return settled
                continue
            return await stripe.confirm_payment_intent(gateway, intent.id)
        except stripe.InvalidRequest:
            # A concurrent confirm, a give-up or the window's job moved the intent since we read it: answer from
            # where it is now, or go on with the checkout's current one; anything else is the payment method's fault.
            current = await _intent_at_stripe(gateway, intent.id)
            if current is None or current.status == "canceled":
                continue
            if current.status in _PAID_OR_PAYING:
                return current
            raise
    raise stripe.StripeError(f"payment {payment_id}: no usable payment intent after {_MAX_INTENTS} tries")


async def _give_up(runtime: Runtime, payment_id: str, intent_id: str) -> stripe.PaymentIntent | None:
    """Cancel an intent at Stripe, then detach it so the next look creates a fresh one (under the next attempt's key).

    Cancelled first: once Stripe has cancelled it, it can never take money, so there is never a second live intent.
    Returns the intent instead if it has the money, or is taking it, after all: nothing is given up then.
    """
    gateway = stripe.gateway(runtime)
    try:
        await stripe.cancel_payment_intent(gateway, intent_id)
    except stripe.InvalidRequest:
        current = await _intent_at_stripe(gateway, intent_id)
        if current is not None and current.status in _PAID_OR_PAYING:
            return current
        if current is not None and current.status != "canceled":
            raise
    await store.detach_intent(runtime.db, payment_id, intent_id, runtime.clock.now(), only_while_open=True)
    return None


async def _intent_at_stripe(gateway: stripe.StripeGateway, intent_id: str) -> stripe.PaymentIntent | None:
    """The intent as Stripe has it now; None if Stripe does not know it."""
    try:
        return await stripe.retrieve_payment_intent(gateway, intent_id)
    except stripe.InvalidRequest as exc:
        if stripe.is_unknown(exc):
            return None
        raise


async def ensure_payment_intent(
    runtime: Runtime, payment_id: str, checkout_id: str, amount_minor: int, currency: str
) -> stripe.PaymentIntent:
    """The checkout's one live PaymentIntent: the stored one, or a new one stored before anything else uses it.

    While the window is open, a stored intent Stripe does not know (a restarted in-memory Stripe) or one already
    cancelled (a give-up cut short) is given up for a fresh one; after it, the cancelled one is the answer.
    """
    gateway = stripe.gateway(runtime)
    for _ in range(_MAX_INTENTS):
        row = await store.payment_by_id(runtime.db, payment_id)
        if row is None:
            raise LookupError(f"no payment {payment_id}")
        stored = row["stripe_payment_intent_id"]
        if not stored:
            return await _new_intent(runtime, payment_id, checkout_id, amount_minor, currency, row["intent_attempt"])
        intent = await _intent_at_stripe(gateway, stored)
        if intent is not None and intent.status != "canceled":
            return intent
        now = runtime.clock.now()
        if not domain.is_open(row["checkout_status"], row["pay_by"], now):
            if intent is None:
                raise PaymentWindowClosed("the payment window of this checkout has closed")
            return intent
        if intent is None:
            log.warning(
                "payment %s: Stripe does not know its payment intent %s; starting a fresh one", payment_id, stored
            )
        await store.detach_intent(runtime.db, payment_id, stored, now, only_while_open=True)
    raise stripe.StripeError(f"payment {payment_id}: no usable payment intent after {_MAX_INTENTS} tries")


async def _new_intent(
    runtime: Runtime, payment_id: str, checkout_id: str, amount_minor: int, currency: str, attempt: int
) -> stripe.PaymentIntent:
    """Create the intent of this attempt and store it, unless a concurrent twin stored one first."""
    gateway = stripe.gateway(runtime)
    # Committed before Stripe is asked: if this process dies between Stripe's answer and `attach_intent`, the orphan
    # sweep knows to look for the intent (use_cases/recovery.py).
    await payment_store.mark_intent_requested(runtime.db, payment_id, runtime.clock.now())
    intent = await stripe.create_payment_intent(
        gateway,
        amount_minor=amount_minor,
        currency=currency,
        checkout_id=checkout_id,
        payment_id=payment_id,
        attempt=attempt,
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
