"""Orders' pure rules: status machines, splitting a cart per merchant, totals, payability."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import ReserveItem
from libs.errors import DomainError
from services.orders import domain
from services.orders.domain import (
    CHECKOUT_TRANSITIONS,
    ORDER_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    CheckoutStatus,
    OrderStatus,
    PaymentStatus,
    SucceededOutcome,
    WindowAction,
)
from services.orders.domain.refusals import AlreadyPaid, MixedCurrency, PaymentWindowClosed
from tests.unit.orders.support import line, plan

NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
M1, M2 = str(uuid.uuid4()), str(uuid.uuid4())


def test_conditional_updates_start_only_from_allowed_states() -> None:
    assert domain.sources(ORDER_TRANSITIONS, OrderStatus.PAID) == ["awaiting_payment"]
    assert domain.sources(CHECKOUT_TRANSITIONS, CheckoutStatus.EXPIRED) == ["awaiting_payment"]
    assert domain.sources(PAYMENT_TRANSITIONS, PaymentStatus.SUCCEEDED) == [
        "amount_mismatch",
        "failed",
        "requires_payment",
    ]
    assert domain.sources(PAYMENT_TRANSITIONS, PaymentStatus.REFUNDED) == ["succeeded_after_cancel"]
    # Money kept, or already on its way back, is never marked failed or mismatched.
    assert "succeeded" not in domain.sources(PAYMENT_TRANSITIONS, PaymentStatus.FAILED)
    assert "succeeded" not in domain.sources(PAYMENT_TRANSITIONS, PaymentStatus.AMOUNT_MISMATCH)


def test_cart_of_two_merchants_splits_into_two_orders_with_one_total() -> None:
    result = plan(line(M1, 500, 2), line(M2, 1200, 1), line(M1, 100, 3))
    by_merchant = {o.merchant_id: o for o in result.orders}
    assert set(by_merchant) == {M1, M2}
    assert by_merchant[M1].amount_minor == 500 * 2 + 100 * 3
    assert [ln.amount_minor for ln in by_merchant[M1].lines] == [1000, 300]
    assert by_merchant[M2].amount_minor == 1200
    assert result.amount_minor == 2500
    assert result.currency == "USD"
    assert by_merchant[M1].order_id == f"order-{M1}"


def test_lines_keep_cart_order_within_a_merchant() -> None:
    first, second = line(M1, 1, 1), line(M1, 2, 1)
    (order,) = plan(first, second).orders
    assert [ln.sku_id for ln in order.lines] == [first.sku_id, second.sku_id]


def test_mixed_currencies_are_refused() -> None:
    with pytest.raises(MixedCurrency) as refused:
        plan(line(M1, 100, 1, "USD"), line(M2, 100, 1, "EUR"))
    assert refused.value.field == "items"


def test_currency_case_does_not_split_a_cart() -> None:
    assert plan(line(M1, 100, 1, "usd"), line(M2, 100, 1, "USD")).currency == "USD"


def test_empty_reservation_is_refused() -> None:
    with pytest.raises(DomainError):
        domain.plan_checkout("c1", "p1", [], {})


def test_room_comes_from_the_first_line_that_names_one() -> None:
    result = plan(line(M1, 1, 1), line(M2, 1, 1, room="room-b"), line(M1, 1, 1, room="room-a"))
    assert result.room_id == "room-b"
    assert {o.merchant_id: o.room_id for o in result.orders} == {M1: "room-a", M2: "room-b"}
    assert plan(line(M1, 1, 1)).room_id is None


def test_payment_is_possible_only_while_the_window_is_open() -> None:
    domain.ensure_payable("awaiting_payment", "requires_payment", NOW + timedelta(seconds=1), NOW)
    domain.ensure_payable("awaiting_payment", "failed", NOW + timedelta(seconds=1), NOW)
    domain.ensure_payable("awaiting_payment", "amount_mismatch", NOW + timedelta(seconds=1), NOW)
    with pytest.raises(PaymentWindowClosed):
        domain.ensure_payable("awaiting_payment", "requires_payment", NOW, NOW)
    with pytest.raises(PaymentWindowClosed):
        domain.ensure_payable("expired", "requires_payment", NOW + timedelta(hours=1), NOW)


def test_paid_checkout_cannot_be_paid_again() -> None:
    with pytest.raises(AlreadyPaid):
        domain.ensure_payable("paid", "succeeded", NOW + timedelta(hours=1), NOW)
    with pytest.raises(AlreadyPaid):
        domain.ensure_payable("expired", "succeeded_after_cancel", NOW + timedelta(hours=1), NOW)


@pytest.mark.parametrize(
    ("checkout", "payment", "outcome"),
    [
        ("awaiting_payment", "requires_payment", SucceededOutcome.PAY),
        ("awaiting_payment", "failed", SucceededOutcome.PAY),
        ("expired", "requires_payment", SucceededOutcome.REFUND),
        ("expired", "failed", SucceededOutcome.REFUND),
        ("paid", "succeeded", SucceededOutcome.IGNORE),
        ("expired", "succeeded_after_cancel", SucceededOutcome.IGNORE),
        ("expired", "refunded", SucceededOutcome.IGNORE),
        ("awaiting_payment", "amount_mismatch", SucceededOutcome.PAY),
    ],
)
def test_money_taken_pays_an_open_checkout_and_is_refunded_for_a_closed_one(
    checkout: str, payment: str, outcome: SucceededOutcome
) -> None:
    assert domain.on_payment_succeeded(checkout, payment) == outcome


def test_money_of_the_wrong_amount_is_refunded_whatever_the_checkout() -> None:
    for checkout in ("awaiting_payment", "expired"):
        assert domain.on_payment_succeeded(checkout, "requires_payment", amount_ok=False) == SucceededOutcome.MISMATCH
    # Money already accounted for is never refunded on a later, odd report.
    assert domain.on_payment_succeeded("paid", "succeeded", amount_ok=False) == SucceededOutcome.IGNORE


PAY_BY = NOW - timedelta(seconds=1)


@pytest.mark.parametrize(
    ("intent", "action"),
    [
        (None, WindowAction.EXPIRE),
        ("canceled", WindowAction.EXPIRE),
        ("succeeded", WindowAction.PAY),
        ("requires_payment_method", WindowAction.CANCEL),
        ("requires_confirmation", WindowAction.CANCEL),
        ("processing", WindowAction.WAIT),
        ("requires_action", WindowAction.WAIT),
        ("requires_capture", WindowAction.WAIT),
    ],
)
def test_window_job_asks_stripe_before_it_expires_anything(intent: str | None, action: WindowAction) -> None:
    assert domain.on_window_closed(intent, NOW, PAY_BY) == action


def test_window_job_waits_for_a_payment_in_flight_only_so_long() -> None:
    late = PAY_BY + domain.IN_FLIGHT_LIMIT
    for in_flight in ("processing", "requires_action", "requires_capture"):
        assert domain.on_window_closed(in_flight, late - timedelta(seconds=1), PAY_BY) == WindowAction.WAIT
        assert domain.on_window_closed(in_flight, late, PAY_BY) == WindowAction.CANCEL
    # Stripe will not cancel a debit that is processing: past the limit the checkout expires anyway.
    assert domain.on_window_closed("processing", late, PAY_BY, cancel_refused=True) == WindowAction.EXPIRE


def test_window_job_reads_a_refused_cancel_from_the_intent_as_it_is_now() -> None:
    assert domain.on_window_closed("succeeded", NOW, PAY_BY, cancel_refused=True) == WindowAction.PAY
    assert domain.on_window_closed("canceled", NOW, PAY_BY, cancel_refused=True) == WindowAction.EXPIRE
    assert domain.on_window_closed("requires_action", NOW, PAY_BY, cancel_refused=True) == WindowAction.WAIT
    # Cancellable yet refused: something odd at Stripe, so the whole job is tried again later.
    assert domain.on_window_closed("requires_payment_method", NOW, PAY_BY, cancel_refused=True) == WindowAction.RETRY


def test_stripe_amount_must_match_the_checkout() -> None:
    assert domain.amount_matches(2500, "USD", 2500, "usd")
    assert not domain.amount_matches(2500, "USD", 2400, "usd")
    assert not domain.amount_matches(2500, "USD", 2500, "eur")
    assert not domain.amount_matches(2500, "USD", None, None)


def test_events_carry_the_orders_lines_and_amounts() -> None:
    result = plan(line(M1, 500, 2, room="r1"))
    order = result.orders[0]
    placed = domain.placed_event(result, order, "buyer-1", NOW + timedelta(minutes=15), NOW)
    assert (placed.order_id, placed.payment_id, placed.amount_minor, placed.currency) == (
        order.order_id,
        "p1",
        1000,
        "USD",
    )
    assert placed.lines[0].room_id == "r1"
    stored = domain.StoredOrder(
        order_id=order.order_id,
        checkout_id="c1",
        buyer_id="buyer-1",
        merchant_id=M1,
        status="paid",
        amount_minor=1000,
        currency="USD",
        lines=order.lines,
    )
    paid = domain.paid_event(stored, "p1", NOW)
    assert (paid.amount_minor, paid.paid_at, paid.occurred_at) == (1000, NOW, NOW)
    cancelled = domain.cancelled_event(stored, domain.CANCEL_REASON_PAYMENT_TIMEOUT, NOW)
    assert cancelled.reason == "payment_timeout"
    assert cancelled.lines == order.lines


def test_cursor_round_trips_and_refuses_forgeries() -> None:
    order_id = str(uuid.uuid4())
    assert domain.decode_cursor(domain.encode_cursor(NOW, order_id)) == (NOW, order_id)
    for bad in ("not-a-cursor", "W10", domain.encode_cursor(NOW, "x")):
        with pytest.raises(DomainError) as refused:
            domain.decode_cursor(bad)
        assert refused.value.field == "cursor"


def test_reservation_must_hold_exactly_the_units_asked_for() -> None:
    a, b = line(M1, 100, 2), line(M2, 100, 1)
    asked = [ReserveItem(sku_id=a.sku_id, quantity=1), ReserveItem(sku_id=b.sku_id.upper(), quantity=1)]
    asked.append(ReserveItem(sku_id=a.sku_id, quantity=1))
    assert domain.reservation_matches(asked, [a, b])
    assert not domain.reservation_matches(asked[:2], [a, b])
    assert not domain.reservation_matches([*asked, ReserveItem(sku_id=str(uuid.uuid4()), quantity=1)], [a, b])
