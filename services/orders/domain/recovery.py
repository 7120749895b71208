"""Pure rules of payment recovery: what a look at Stripe means for a payment whose webhook may be lost
(reconcile), and what becomes of a PaymentIntent Stripe holds but orders never recorded (orphan sweep)."""

from __future__ import annotations

from enum import StrEnum

# The due job that asks Stripe about a confirmed payment (key: the payment id), and the one sweep of orphan intents.
RECONCILE_JOB = "payment_reconcile"
ORPHAN_SWEEP_JOB = "intent_orphan_sweep"
ORPHAN_SWEEP_KEY = "intents"

# Stripe is still working on it: the buyer is in 3-D Secure, a debit is processing, or it waits to be captured.
_IN_FLIGHT = ("processing", "requires_action", "requires_capture")
# An intent that can still be cancelled (Stripe refuses `processing`, `succeeded` and `canceled`).
_CANCELLABLE = ("requires_payment_method", "requires_confirmation", "requires_action", "requires_capture")


class ReconcileAction(StrEnum):
    """What the reconcile job does, given the stored intent's status at Stripe."""

    PAY = "pay"  # Stripe has the money: apply it exactly as the webhook would
    FAIL = "fail"  # the charge was declined: the payment is `failed`, as the webhook would make it
    LOOK_AGAIN = "look_again"  # Stripe is still deciding: look again after the interval
    STOP = "stop"  # nothing is on its way (not confirmed, or cancelled): a new confirm schedules another look


def on_reconcile(intent_status: str | None, *, declined: bool) -> ReconcileAction:
    """Decide the reconcile job's move from the stored PaymentIntent's status (`declined`: it has a payment error)."""
    if intent_status == "succeeded":
        return ReconcileAction.PAY
    if intent_status in _IN_FLIGHT:
        return ReconcileAction.LOOK_AGAIN
    if intent_status == "requires_payment_method" and declined:
        return ReconcileAction.FAIL
    return ReconcileAction.STOP


class OrphanAction(StrEnum):
    """What the sweep does with an intent of one of our payments that is not the payment's stored one."""

    ATTACH = "attach"  # the payment still awaits this very attempt's intent: record it (as the lost commit would have)
    CANCEL = "cancel"  # anything else: cancel it at Stripe, so it can never take money without an order
    SETTLE = "settle"  # it took money already: the payment's result path refunds it (superseded or paid late)
    KEEP = "keep"  # nothing to do (already cancelled, or Stripe is still deciding: looked at again next sweep)


def on_orphan(
    intent_status: str,
    intent_attempt: int,
    *,
    stored_intent: str | None,
    payment_attempt: int,
    checkout_open: bool,
) -> OrphanAction:
    """Decide an unrecorded intent's fate; attached only to a payment still waiting for exactly this attempt's intent
    (cancelling that one would not do: Stripe answers the attempt's idempotency key with it for 24 h)."""
    if intent_status == "succeeded":
        return OrphanAction.SETTLE
    if intent_status not in _CANCELLABLE:
        return OrphanAction.KEEP
    if stored_intent is None and intent_attempt == payment_attempt and checkout_open:
        return OrphanAction.ATTACH
    return OrphanAction.CANCEL
