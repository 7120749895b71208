"""Pure order rules: the status machines, splitting a checkout per merchant, totals, payability, order lists.

Coupon rules live in `domain.coupons`, flash-sale admissions in `domain.flash_sales` and what orders refuses in
`domain.refusals`; this module knows only that an order may carry a discount.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from libs.contracts import (
    OrderCancelled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    PlacedOrder,
    ReservedDeal,
    ReservedLine,
    ReserveItem,
)
from libs.ids import is_uuid
from services.orders.domain.deals import deal_order_line
from services.orders.domain.refusals import (
    AlreadyPaid,
    InvalidCursor,
    InvalidStatus,
    MixedCurrency,
    PaymentWindowClosed,
    UnusableReservation,
)

PAYMENT_TIMEOUT_JOB = "payment_timeout"
REFUND_JOB = "refund_payment"
CANCEL_REASON_PAYMENT_TIMEOUT = "payment_timeout"

# A payment Stripe is still working on when the window closes (bank debit processing, 3-D Secure under way)
# is waited for, checking again every IN_FLIGHT_RECHECK, for at most IN_FLIGHT_LIMIT past pay_by.
IN_FLIGHT_RECHECK = timedelta(seconds=30)
IN_FLIGHT_LIMIT = timedelta(hours=1)

S = TypeVar("S", bound=StrEnum)


class OrderStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    # Some units shipped, some still to ship.
    PARTIALLY_SHIPPED = "partially_shipped"
    # Nothing left to ship (every line shipped or cancelled).
    SHIPPED = "shipped"
    # Shipped, and every shipment delivered.
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class CheckoutStatus(StrEnum):
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    EXPIRED = "expired"


class PaymentStatus(StrEnum):
    REQUIRES_PAYMENT = "requires_payment"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    # Stripe took the money after the window closed: it must go straight back.
    SUCCEEDED_AFTER_CANCEL = "succeeded_after_cancel"
    REFUNDED = "refunded"
    # Stripe took an amount or currency other than the checkout's: that money goes back, and the buyer may
    # pay again (with a new PaymentIntent) while the window is open.
    AMOUNT_MISMATCH = "amount_mismatch"


class RefundReason(StrEnum):
    PAID_AFTER_EXPIRY = "paid_after_expiry"
    AMOUNT_MISMATCH = "amount_mismatch"
    # Money taken by an intent that is no longer (or never was) the payment's: one given up for a fresh one, or a
    # concurrent twin that lost the race to be stored.
    SUPERSEDED = "superseded"


# Fulfilment ("Orders: fulfilment" in docs/ARCHITECTURE.md): paid -> cancelled is the buyer's cancel before anything
# shipped; partially_shipped -> shipped is also the late cancel of what was left to ship; shipped -> completed is the
# buyer confirming receipt before every delivery was reported.
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.AWAITING_PAYMENT: frozenset({OrderStatus.PAID, OrderStatus.CANCELLED}),
    OrderStatus.PAID: frozenset({OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.PARTIALLY_SHIPPED: frozenset({OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.COMPLETED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.COMPLETED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}
CHECKOUT_TRANSITIONS: dict[CheckoutStatus, frozenset[CheckoutStatus]] = {
    CheckoutStatus.AWAITING_PAYMENT: frozenset({CheckoutStatus.PAID, CheckoutStatus.EXPIRED}),
    CheckoutStatus.PAID: frozenset(),
    CheckoutStatus.EXPIRED: frozenset(),
}
# Until money is kept, any attempt may fail, succeed, or take the wrong amount (refunded; the buyer tries again).
_OPEN_PAYMENT = frozenset(
    {
        PaymentStatus.FAILED,
        PaymentStatus.SUCCEEDED,
        PaymentStatus.SUCCEEDED_AFTER_CANCEL,
        PaymentStatus.AMOUNT_MISMATCH,
    }
)
PAYMENT_TRANSITIONS: dict[PaymentStatus, frozenset[PaymentStatus]] = {
    PaymentStatus.REQUIRES_PAYMENT: _OPEN_PAYMENT,
    PaymentStatus.FAILED: _OPEN_PAYMENT,
    PaymentStatus.AMOUNT_MISMATCH: _OPEN_PAYMENT,
    PaymentStatus.SUCCEEDED: frozenset(),
    PaymentStatus.SUCCEEDED_AFTER_CANCEL: frozenset({PaymentStatus.REFUNDED}),
    PaymentStatus.REFUNDED: frozenset(),
}


def sources(machine: Mapping[S, frozenset[S]], target: S) -> list[str]:
    """Every status from which `target` may be reached (the WHERE of a conditional update)."""
    return sorted(str(s) for s, allowed in machine.items() if target in allowed)


@dataclass(frozen=True)
class PlannedOrder:
    """One merchant's share of a checkout, before it is stored."""

    order_id: str
    merchant_id: str
    currency: str
    lines: list[OrderLine]
    coupon_id: str | None = None
    discount_minor: int = 0

    @property
    def subtotal_minor(self) -> int:
        """The lines at their prices, before any discount."""
        return sum(line.unit_price_minor * line.quantity for line in self.lines)

    @property
    def amount_minor(self) -> int:
        """What the buyer pays for this order: the lines after their share of the discount."""
        return sum(line.amount_minor for line in self.lines)

    @property
    def room_id(self) -> str | None:
        return room_of_lines(self.lines)


@dataclass(frozen=True)
class CheckoutPlan:
    """A checkout split per merchant, with its one total in one currency."""

    checkout_id: str
    payment_id: str
    orders: list[PlannedOrder] = field(default_factory=list)
    # The first line naming a room, in cart order (the orders are grouped by merchant).
    room_id: str | None = None

    @property
    def amount_minor(self) -> int:
        return sum(order.amount_minor for order in self.orders)

    @property
    def currency(self) -> str:
        return self.orders[0].currency


def order_line(reserved: ReservedLine | ReservedDeal) -> OrderLine:
    """An order line priced by shop, or by local_life for a deal (never by the client)."""
    if isinstance(reserved, ReservedDeal):
        return deal_order_line(reserved)
    return OrderLine(
        sku_id=reserved.sku_id,
        product_id=reserved.product_id,
        title=reserved.title,
        sku_name=reserved.sku_name,
        quantity=reserved.quantity,
        unit_price_minor=reserved.unit_price_minor,
        amount_minor=reserved.unit_price_minor * reserved.quantity,
        room_id=reserved.room_id,
        video_id=reserved.video_id,
    )


def plan_checkout(
    checkout_id: str,
    payment_id: str,
    reserved: Sequence[ReservedLine | ReservedDeal],
    order_id_for: dict[str, str],
) -> CheckoutPlan:
    """Split reserved lines (shop's goods, local_life's deals) into one order per merchant (in cart order); one
    currency for all."""
    if not reserved:
        raise UnusableReservation("a checkout needs at least one line", field="items")
    currencies = {line.currency.upper() for line in reserved}
    if len(currencies) > 1:
        raise MixedCurrency(f"all items must share one currency, got {', '.join(sorted(currencies))}", field="items")
    currency = currencies.pop()
    by_merchant: dict[str, list[OrderLine]] = {}
    for line in reserved:
        if line.quantity <= 0 or line.unit_price_minor < 0:
            what = f"deal {line.deal_id}" if isinstance(line, ReservedDeal) else f"sku {line.sku_id}"
            raise UnusableReservation(f"the reservation has an unusable line for {what}")
        by_merchant.setdefault(line.merchant_id, []).append(order_line(line))
    orders = [
        PlannedOrder(order_id=order_id_for[merchant], merchant_id=merchant, currency=currency, lines=lines)
        for merchant, lines in by_merchant.items()
    ]
    return CheckoutPlan(checkout_id=checkout_id, payment_id=payment_id, orders=orders, room_id=room_of_lines(reserved))


def reservation_matches(items: Iterable[ReserveItem], reserved: Iterable[ReservedLine]) -> bool:
    """Shop reserved exactly the units asked for (it merges repeats of a SKU into one line)."""

    def units(lines: Iterable[ReserveItem | ReservedLine]) -> dict[str, int]:
        total: dict[str, int] = {}
        for line in lines:
            key = line.sku_id.lower()
            total[key] = total.get(key, 0) + line.quantity
        return total

    return units(items) == units(reserved)


class _FromRoom(Protocol):
    @property
    def room_id(self) -> str | None: ...


def room_of_lines(lines: Iterable[_FromRoom]) -> str | None:
    """The live room the purchase came from: the first line that names one."""
    return next((line.room_id for line in lines if line.room_id), None)


def is_open(checkout_status: str, pay_by: datetime, now: datetime) -> bool:
    """The checkout still awaits payment and its window has not closed."""
    return checkout_status == CheckoutStatus.AWAITING_PAYMENT and now < pay_by


_MONEY_KEPT_OR_RETURNED = (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED_AFTER_CANCEL, PaymentStatus.REFUNDED)


def ensure_payable(checkout_status: str, payment_status: str, pay_by: datetime, now: datetime) -> None:
    """A payment may be attempted only while its checkout awaits payment and the window is open."""
    if payment_status in _MONEY_KEPT_OR_RETURNED:
        raise AlreadyPaid("this payment has already succeeded")
    if checkout_status == CheckoutStatus.PAID:
        raise AlreadyPaid("this checkout is already paid")
    if not is_open(checkout_status, pay_by, now):
        raise PaymentWindowClosed("the payment window of this checkout has closed")


class SucceededOutcome(StrEnum):
    PAY = "pay"
    REFUND = "refund"
    # Stripe took another amount or currency than asked: refund it, the checkout keeps waiting.
    MISMATCH = "mismatch"
    # An intent the payment no longer uses took money: refund it, the checkout is untouched.
    SUPERSEDED = "superseded"
    IGNORE = "ignore"


def is_superseded(stored_intent_id: str | None, current_attempt: int, intent_id: str, intent_attempt: int) -> bool:
    """The intent is not the payment's current one: another is stored, or it belongs to an attempt given up.

    With none stored, an intent of the current attempt is the one being stored right now (its webhook can come first).
    """
    if stored_intent_id is not None:
        return stored_intent_id != intent_id
    return intent_attempt < current_attempt


def on_payment_succeeded(checkout_status: str, payment_status: str, *, amount_ok: bool = True) -> SucceededOutcome:
    """What Stripe's 'money taken' means for a checkout in this state."""
    if payment_status in _MONEY_KEPT_OR_RETURNED:
        # This intent's money is already accounted for (only the intent stored on a payment gets this far).
        return SucceededOutcome.IGNORE
    if not amount_ok:
        return SucceededOutcome.MISMATCH
    if checkout_status == CheckoutStatus.AWAITING_PAYMENT:
        return SucceededOutcome.PAY
    if checkout_status == CheckoutStatus.EXPIRED:
        # Never keep money for an order that will not be fulfilled.
        return SucceededOutcome.REFUND
    return SucceededOutcome.IGNORE


def amount_matches(
    expected_minor: int, expected_currency: str, paid_minor: int | None, paid_currency: str | None
) -> bool:
    """Stripe charged exactly what the checkout asked for."""
    return paid_minor == expected_minor and (paid_currency or "").upper() == expected_currency.upper()


class WindowAction(StrEnum):
    """What the payment-window job does, given where the PaymentIntent is at Stripe."""

    PAY = "pay"  # Stripe has the money: pay the checkout exactly as the webhook would
    WAIT = "wait"  # Stripe is still deciding: look again in IN_FLIGHT_RECHECK
    CANCEL = "cancel"  # cancel the intent at Stripe first (irreversible), then decide on what Stripe answers
    EXPIRE = "expire"  # no money can come any more (or we stop waiting for it): expire and cancel the orders
    RETRY = "retry"  # Stripe refused to cancel an intent that should be cancellable: try the whole job later


# Stripe statuses in which the buyer's money may still arrive without the buyer doing anything more here.
STRIPE_IN_FLIGHT = frozenset({"processing", "requires_action", "requires_capture"})


def on_window_closed(
    intent_status: str | None, now: datetime, pay_by: datetime, *, cancel_refused: bool = False
) -> WindowAction:
    """Decide the payment-window job's move from the PaymentIntent's status at Stripe (None: no intent)."""
    if intent_status is None or intent_status == "canceled":
        return WindowAction.EXPIRE
    if intent_status == "succeeded":
        return WindowAction.PAY
    gave_up = now >= pay_by + IN_FLIGHT_LIMIT
    if intent_status in STRIPE_IN_FLIGHT and not gave_up:
        return WindowAction.WAIT
    if cancel_refused:
        # Past the limit, money that still lands later is refunded by the webhook.
        return WindowAction.EXPIRE if gave_up else WindowAction.RETRY
    return WindowAction.CANCEL


def placed_order(plan: CheckoutPlan, order: PlannedOrder, buyer_id: str, pay_by: datetime) -> PlacedOrder:
    """An order of a flash-sale batch, as FlashSaleOrdersPlaced lists it."""
    return PlacedOrder(
        order_id=order.order_id,
        checkout_id=plan.checkout_id,
        payment_id=plan.payment_id,
        buyer_id=buyer_id,
        merchant_id=order.merchant_id,
        lines=order.lines,
        amount_minor=order.amount_minor,
        currency=order.currency,
        pay_by=pay_by,
    )


def placed_event(plan: CheckoutPlan, order: PlannedOrder, buyer_id: str, pay_by: datetime, at: datetime) -> OrderPlaced:
    """OrderPlaced of one order of a checkout: the same facts a flash-sale batch lists, plus its coupon."""
    facts = msgspec.structs.asdict(placed_order(plan, order, buyer_id, pay_by))
    return OrderPlaced(**facts, coupon_id=order.coupon_id, discount_minor=order.discount_minor, occurred_at=at)


@dataclass(frozen=True)
class StoredOrder:
    """An order as stored, enough to announce what happens to it."""

    order_id: str
    checkout_id: str
    buyer_id: str
    merchant_id: str
    status: str
    amount_minor: int
    currency: str
    lines: list[OrderLine]
    coupon_id: str | None = None
    discount_minor: int = 0

    @property
    def room_id(self) -> str | None:
        return room_of_lines(self.lines)


def _facts(order: StoredOrder) -> dict[str, Any]:
    """What every order event repeats about its order (contracts.OrderFacts)."""
    return {
        "order_id": order.order_id,
        "checkout_id": order.checkout_id,
        "buyer_id": order.buyer_id,
        "merchant_id": order.merchant_id,
        "lines": order.lines,
        "coupon_id": order.coupon_id,
        "discount_minor": order.discount_minor,
    }


def paid_event(order: StoredOrder, payment_id: str, paid_at: datetime) -> OrderPaid:
    return OrderPaid(
        **_facts(order),
        payment_id=payment_id,
        amount_minor=order.amount_minor,
        currency=order.currency,
        paid_at=paid_at,
        occurred_at=paid_at,
    )


def cancelled_event(order: StoredOrder, reason: str, at: datetime) -> OrderCancelled:
    return OrderCancelled(**_facts(order), reason=reason, occurred_at=at)


# --- order lists ------------------------------------------------------------------------------


def ensure_order_status(status: str) -> None:
    """A list may be filtered by an order status, and by nothing else."""
    if status not in {s.value for s in OrderStatus}:
        allowed = ", ".join(s.value for s in OrderStatus)
        raise InvalidStatus(f"status must be one of {allowed}", field="status")


class _Cursor(msgspec.Struct, array_like=True):
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    order_id: str


def encode_cursor(created_at: datetime, order_id: str) -> str:
    """An opaque position after which the next page starts."""
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(created_at, order_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; refuses (InvalidCursor) one that is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor("cursor is not one this API handed out", field="cursor") from exc
    if not is_uuid(decoded.order_id):
        raise InvalidCursor("cursor is not one this API handed out", field="cursor")
    return decoded.created_at, decoded.order_id
