"""Coupon rules of orders: who may use which coupon, the discount, and its spread over an order's lines."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import CouponClaimed
from libs.errors import DomainError
from services.orders import domain
from services.orders.domain import coupons as rules
from services.orders.domain.coupons import Coupon, CouponKind, CouponStatus
from tests.unit.orders.support import line, plan

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
M1, M2 = str(uuid.uuid4()), str(uuid.uuid4())
BUYER = "buyer-1"


def coupon(
    merchant: str = M1,
    *,
    amount_off: int = 0,
    percent_off: int = 0,
    min_spend: int = 0,
    currency: str = "USD",
    status: str = CouponStatus.AVAILABLE,
    valid_until: datetime = NOW + timedelta(hours=1),
    buyer: str = BUYER,
) -> Coupon:
    return Coupon(
        coupon_id=str(uuid.uuid4()),
        buyer_id=buyer,
        merchant_id=merchant,
        kind=CouponKind.AMOUNT_OFF if amount_off else CouponKind.PERCENT_OFF,
        currency=currency,
        valid_until=valid_until,
        amount_off_minor=amount_off,
        percent_off=percent_off,
        min_spend_minor=min_spend,
        status=status,
    )


def refusal(exc: pytest.ExceptionInfo[DomainError]) -> tuple[str, str | None]:
    return exc.value.code, exc.value.field


# --- the discount ---------------------------------------------------------------------------------


def test_amount_off_never_takes_more_than_the_subtotal() -> None:
    assert rules.discount_of(coupon(amount_off=500), 2000) == 500
    assert rules.discount_of(coupon(amount_off=5000), 2000) == 2000


def test_percent_off_rounds_down_to_the_minor_unit() -> None:
    assert rules.discount_of(coupon(percent_off=15), 999) == 149  # 149.85
    assert rules.discount_of(coupon(percent_off=100), 999) == 999
    assert rules.discount_of(coupon(percent_off=33), 1) == 0


@pytest.mark.parametrize(
    ("discount", "amounts", "shares"),
    [
        (100, [100, 100, 100], [34, 33, 33]),  # the leftover unit goes to the first of equals
        (10, [1000, 3000], [3, 7]),
        (1, [1, 1, 998], [0, 0, 1]),
        (299, [100, 200], [100, 199]),
        (300, [100, 200], [100, 200]),
        (0, [100, 200], [0, 0]),
        (5, [0, 10], [0, 5]),
    ],
)
def test_discount_is_spread_over_lines_in_proportion_by_largest_remainder(
    discount: int, amounts: list[int], shares: list[int]
) -> None:
    assert rules.spread(discount, amounts) == shares


def test_spread_shares_always_sum_to_the_discount_and_never_exceed_a_line() -> None:
    amounts = [7, 13, 1, 999, 250, 3]
    for discount in range(sum(amounts) + 1):
        shares = rules.spread(discount, amounts)
        assert sum(shares) == discount
        assert all(0 <= s <= a for s, a in zip(shares, amounts, strict=True))


def test_spread_refuses_a_discount_larger_than_the_amounts() -> None:
    with pytest.raises(ValueError, match="cannot spread"):
        rules.spread(301, [100, 200])


# --- applying coupons to a checkout ----------------------------------------------------------------


def test_coupon_discounts_only_its_merchants_order_and_the_lines_carry_their_shares() -> None:
    p = plan(line(M1, 1000, 2), line(M1, 1000), line(M2, 700))
    c = coupon(M1, amount_off=500)
    applied = rules.apply_coupons(p, [c])
    mine, other = (next(o for o in applied.orders if o.merchant_id == m) for m in (M1, M2))
    assert (mine.subtotal_minor, mine.discount_minor, mine.amount_minor, mine.coupon_id) == (
        3000,
        500,
        2500,
        c.coupon_id,
    )
    assert [(ln.discount_minor, ln.amount_minor) for ln in mine.lines] == [(333, 1667), (167, 833)]
    assert (other.discount_minor, other.amount_minor, other.coupon_id) == (0, 700, None)
    assert applied.amount_minor == 2500 + 700
    assert rules.apply_coupons(p, []) is p


def test_placed_event_carries_the_coupon_and_the_discounted_lines() -> None:
    c = coupon(M1, percent_off=10)
    applied = rules.apply_coupons(plan(line(M1, 1999, 3)), [c])
    order = applied.orders[0]
    event = domain.placed_event(applied, order, BUYER, NOW, NOW)
    assert (event.coupon_id, event.discount_minor, event.amount_minor) == (c.coupon_id, 599, 5997 - 599)
    assert [(ln.discount_minor, ln.amount_minor) for ln in event.lines] == [(599, 5398)]


def test_coupon_needs_its_merchant_in_the_checkout() -> None:
    with pytest.raises(rules.CouponNotApplicable) as exc:
        rules.apply_coupons(plan(line(M1, 1000)), [coupon(M1, percent_off=5), coupon(M2, amount_off=100)])
    assert refusal(exc) == ("coupon-not-applicable", "coupon_ids[1]")


def test_minimum_spend_counts_the_merchants_order_before_discount() -> None:
    p = plan(line(M1, 1500), line(M2, 5000))
    assert rules.apply_coupons(p, [coupon(M1, amount_off=100, min_spend=1500)]).amount_minor == 6400
    with pytest.raises(rules.CouponMinSpendNotMet) as exc:
        rules.apply_coupons(p, [coupon(M1, amount_off=100, min_spend=1501)])
    assert refusal(exc) == ("coupon-min-spend-not-met", "coupon_ids[0]")


def test_coupon_in_another_currency_is_refused() -> None:
    with pytest.raises(rules.CouponCurrencyMismatch) as exc:
        rules.apply_coupons(plan(line(M1, 1000)), [coupon(M1, amount_off=100, currency="EUR")])
    assert refusal(exc) == ("coupon-currency-mismatch", "coupon_ids[0]")


def test_total_below_what_stripe_can_charge_is_refused() -> None:
    assert rules.apply_coupons(plan(line(M1, 1000)), [coupon(M1, amount_off=950)]).amount_minor == 50
    for too_much in (coupon(M1, amount_off=951), coupon(M1, percent_off=100)):
        with pytest.raises(rules.BelowMinimumCharge) as exc:
            rules.apply_coupons(plan(line(M1, 1000)), [too_much])
        assert refusal(exc) == ("total-below-minimum-charge", "coupon_ids")
    # The minimum is the checkout's, since one payment pays every order of it.
    assert rules.apply_coupons(plan(line(M1, 1000), line(M2, 100)), [coupon(M1, percent_off=100)]).amount_minor == 100


# --- which coupons a buyer may use -----------------------------------------------------------------


def test_usable_coupons_come_back_in_request_order() -> None:
    a, b = coupon(M1, amount_off=100), coupon(M2, percent_off=10)
    found = {c.coupon_id: c for c in (a, b)}
    assert rules.ensure_usable([b.coupon_id, a.coupon_id], found, BUYER, NOW) == [b, a]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: coupon(buyer="someone-else", amount_off=100), "coupon-not-found"),
        (lambda: coupon(amount_off=100, status=CouponStatus.USED), "coupon-used"),
        (lambda: coupon(amount_off=100, valid_until=NOW), "coupon-expired"),
    ],
)
def test_someone_elses_used_or_expired_coupon_is_refused_naming_it(make, code: str) -> None:
    good, bad = coupon(M2, amount_off=100), make()
    found = {c.coupon_id: c for c in (good, bad)}
    with pytest.raises(DomainError) as exc:
        rules.ensure_usable([good.coupon_id, bad.coupon_id], found, BUYER, NOW)
    assert refusal(exc) == (code, "coupon_ids[1]")


def test_unknown_coupon_is_not_found() -> None:
    with pytest.raises(rules.CouponNotFound) as exc:
        rules.ensure_usable([str(uuid.uuid4())], {}, BUYER, NOW)
    assert refusal(exc) == ("coupon-not-found", "coupon_ids[0]")


def test_one_coupon_per_merchants_order() -> None:
    a, b = coupon(M1, amount_off=100), coupon(M1, percent_off=10)
    found = {c.coupon_id: c for c in (a, b)}
    with pytest.raises(rules.OneCouponPerOrder) as exc:
        rules.ensure_usable([a.coupon_id, b.coupon_id], found, BUYER, NOW)
    assert refusal(exc) == ("one-coupon-per-order", "coupon_ids[1]")
    with pytest.raises(rules.OneCouponPerOrder):
        rules.ensure_usable([a.coupon_id, a.coupon_id], found, BUYER, NOW)


# --- claims ----------------------------------------------------------------------------------------


def claim(**overrides: object) -> CouponClaimed:
    fields: dict[str, object] = dict(
        coupon_id=str(uuid.uuid4()),
        drop_id=str(uuid.uuid4()),
        room_id="room-1",
        merchant_id=M1,
        buyer_id=BUYER,
        kind="amount_off",
        amount_off_minor=300,
        currency="usd",
        valid_until=NOW,
    )
    return CouponClaimed(**(fields | overrides))  # type: ignore[arg-type]


def test_claim_becomes_an_available_coupon_with_its_terms() -> None:
    event = claim(min_spend_minor=2000)
    kept = rules.coupon_from_claim(event)
    assert (kept.coupon_id, kept.kind, kept.amount_off_minor, kept.currency, kept.min_spend_minor, kept.status) == (
        event.coupon_id,
        "amount_off",
        300,
        "USD",
        2000,
        "available",
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "buy_one_get_one"},
        {"amount_off_minor": 0},
        {"kind": "percent_off", "percent_off": 0},
        {"kind": "percent_off", "percent_off": 101},
        {"coupon_id": "not-a-uuid"},
        {"min_spend_minor": -1},
    ],
)
def test_claim_with_terms_no_checkout_could_honour_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(DomainError):
        rules.coupon_from_claim(claim(**overrides))
