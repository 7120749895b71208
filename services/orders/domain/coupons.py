"""Pure coupon rules: which claimed coupons a checkout may use, what each takes off, and its spread over lines."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import msgspec

from libs.contracts import CouponClaimed
from libs.errors import Conflict, Invalid, NotFound
from libs.ids import canonical_uuid
from services.orders.domain import CheckoutPlan, PlannedOrder
from services.orders.domain.refusals import UnusableEvent

# Requests name coupons in a list; refusals point at the one at fault.
FIELD = "coupon_ids"

# Stripe refuses to charge less than this (minor units; https://docs.stripe.com/currencies#minimum-and-maximum-charge-
# amounts). A coupon may not bring a checkout below it: there would be nothing Stripe could take.
MINIMUM_CHARGE_MINOR: dict[str, int] = {
    "AED": 200,
    "AUD": 50,
    "BGN": 100,
    "BRL": 50,
    "CAD": 50,
    "CHF": 50,
    "CZK": 1500,
    "DKK": 250,
    "EUR": 50,
    "GBP": 30,
    "HKD": 400,
    "HUF": 17500,
    "INR": 50,
    "JPY": 50,
    "MXN": 1000,
    "MYR": 200,
    "NOK": 300,
    "NZD": 50,
    "PLN": 200,
    "RON": 200,
    "SEK": 300,
    "SGD": 50,
    "THB": 1000,
    "USD": 50,
}
DEFAULT_MINIMUM_CHARGE_MINOR = 50


class CouponKind(StrEnum):
    AMOUNT_OFF = "amount_off"
    PERCENT_OFF = "percent_off"


class CouponStatus(StrEnum):
    AVAILABLE = "available"
    USED = "used"


class CouponNotFound(NotFound):
    code = "coupon-not-found"


class CouponUsed(Conflict):
    code = "coupon-used"


class CouponExpired(Conflict):
    code = "coupon-expired"


class OneCouponPerOrder(Invalid):
    code = "one-coupon-per-order"


class CouponNotApplicable(Invalid):
    code = "coupon-not-applicable"


class CouponCurrencyMismatch(Invalid):
    code = "coupon-currency-mismatch"


class CouponMinSpendNotMet(Invalid):
    code = "coupon-min-spend-not-met"


class BelowMinimumCharge(Invalid):
    code = "total-below-minimum-charge"


@dataclass(frozen=True)
class Coupon:
    """A coupon a buyer claimed in a merchant's live room, with its terms."""

    coupon_id: str
    buyer_id: str
    merchant_id: str
    kind: str
    currency: str
    valid_until: datetime
    amount_off_minor: int = 0
    percent_off: int = 0
    min_spend_minor: int = 0
    status: str = CouponStatus.AVAILABLE


def coupon_from_claim(event: CouponClaimed) -> Coupon:
    """The coupon a claim hands the buyer; refuses (UnusableEvent) terms no checkout could honour."""
    coupon_id, merchant_id = canonical_uuid(event.coupon_id), canonical_uuid(event.merchant_id)
    if not coupon_id or not merchant_id:
        raise UnusableEvent("coupon_id and merchant_id must be UUIDs")
    if not event.buyer_id or len(event.currency) != 3:
        raise UnusableEvent("a coupon needs a buyer and an ISO currency")
    if event.kind == CouponKind.AMOUNT_OFF:
        valid = event.amount_off_minor > 0
    elif event.kind == CouponKind.PERCENT_OFF:
        valid = 1 <= event.percent_off <= 100
    else:
        valid = False
    if not valid or event.min_spend_minor < 0:
        raise UnusableEvent(f"unusable coupon terms: {event.kind} {event.amount_off_minor} / {event.percent_off}%")
    return Coupon(
        coupon_id=coupon_id,
        buyer_id=event.buyer_id,
        merchant_id=merchant_id,
        kind=event.kind,
        currency=event.currency.upper(),
        valid_until=event.valid_until,
        amount_off_minor=event.amount_off_minor if event.kind == CouponKind.AMOUNT_OFF else 0,
        percent_off=event.percent_off if event.kind == CouponKind.PERCENT_OFF else 0,
        min_spend_minor=event.min_spend_minor,
    )


def field_of(index: int) -> str:
    return f"{FIELD}[{index}]"


def ensure_usable(coupon_ids: Sequence[str], found: Mapping[str, Coupon], buyer_id: str, now: datetime) -> list[Coupon]:
    """The coupons named, in request order; refuses unknown or someone else's, used, expired, two for one merchant."""
    usable: list[Coupon] = []
    merchants: dict[str, int] = {}
    for index, coupon_id in enumerate(coupon_ids):
        coupon = found.get(coupon_id)
        if coupon is None or coupon.buyer_id != buyer_id:
            raise CouponNotFound("no such coupon", field=field_of(index))
        if coupon.status != CouponStatus.AVAILABLE:
            raise CouponUsed("this coupon has already been used", field=field_of(index))
        if now >= coupon.valid_until:
            raise CouponExpired("this coupon has expired", field=field_of(index))
        if coupon.merchant_id in merchants:
            raise OneCouponPerOrder(
                f"{field_of(merchants[coupon.merchant_id])} is already for this merchant's order; one coupon per order",
                field=field_of(index),
            )
        merchants[coupon.merchant_id] = index
        usable.append(coupon)
    return usable


def discount_of(coupon: Coupon, subtotal_minor: int) -> int:
    """What the coupon takes off a subtotal: a fixed amount (never more than the subtotal) or a percentage rounded
    down to the minor unit."""
    if coupon.kind == CouponKind.AMOUNT_OFF:
        return min(coupon.amount_off_minor, subtotal_minor)
    return subtotal_minor * coupon.percent_off // 100


def spread(discount_minor: int, amounts_minor: Sequence[int]) -> list[int]:
    """Split a discount over amounts in proportion (largest remainder): shares sum to it, none exceeds its amount.

    Ties go to the earlier amount, so the same order always splits the same way.
    """
    total = sum(amounts_minor)
    if not 0 <= discount_minor <= total or any(a < 0 for a in amounts_minor):
        raise ValueError(f"cannot spread {discount_minor} over {list(amounts_minor)}")
    if total == 0:
        return [0] * len(amounts_minor)
    shares = [discount_minor * a // total for a in amounts_minor]
    remainders = [discount_minor * a % total for a in amounts_minor]
    left = discount_minor - sum(shares)
    for i in sorted(range(len(shares)), key=lambda i: (-remainders[i], i))[:left]:
        shares[i] += 1
    return shares


def apply_to_order(order: PlannedOrder, coupon: Coupon, index: int) -> PlannedOrder:
    """The order with the coupon's discount spread over its lines; refuses another currency or a subtotal too small."""
    if coupon.currency.upper() != order.currency.upper():
        raise CouponCurrencyMismatch(
            f"this coupon is in {coupon.currency}, the order in {order.currency}", field=field_of(index)
        )
    subtotal = order.subtotal_minor
    if subtotal < coupon.min_spend_minor:
        raise CouponMinSpendNotMet(
            f"this coupon needs a spend of {coupon.min_spend_minor} with this merchant; the order comes to {subtotal}",
            field=field_of(index),
        )
    discount = discount_of(coupon, subtotal)
    gross = [line.unit_price_minor * line.quantity for line in order.lines]
    lines = [
        msgspec.structs.replace(line, discount_minor=share, amount_minor=amount - share)
        for line, amount, share in zip(order.lines, gross, spread(discount, gross), strict=True)
    ]
    return dataclasses.replace(order, lines=lines, coupon_id=coupon.coupon_id, discount_minor=discount)


def minimum_charge_minor(currency: str) -> int:
    return MINIMUM_CHARGE_MINOR.get(currency.upper(), DEFAULT_MINIMUM_CHARGE_MINOR)


def apply_coupons(plan: CheckoutPlan, coupons: Sequence[Coupon]) -> CheckoutPlan:
    """The checkout with each coupon applied to its merchant's order (coupons in request order, already usable)."""
    if not coupons:
        return plan
    # Shop names merchants; compare ids in one spelling whatever the case it uses.
    by_merchant = {canonical_uuid(order.merchant_id) or order.merchant_id: order for order in plan.orders}
    discounted: dict[str, PlannedOrder] = {}
    for index, coupon in enumerate(coupons):
        order = by_merchant.get(coupon.merchant_id)
        if order is None:
            raise CouponNotApplicable(
                "this coupon is for a merchant with nothing in this checkout", field=field_of(index)
            )
        discounted[order.merchant_id] = apply_to_order(order, coupon, index)
    applied = dataclasses.replace(plan, orders=[discounted.get(o.merchant_id, o) for o in plan.orders])
    minimum = minimum_charge_minor(applied.currency)
    if applied.amount_minor < minimum:
        raise BelowMinimumCharge(
            f"with these coupons the checkout would come to {applied.amount_minor} {applied.currency}, below the "
            f"smallest amount that can be charged ({minimum}); buy more or leave a coupon out",
            field=FIELD,
        )
    return applied
