"""Fulfilment rules without I/O: the ledger, what ships, what a cancel cancels, the completion clock and the
carrier's signature."""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import OrderLine
from services.orders import domain
from services.orders.domain import ORDER_TRANSITIONS, OrderStatus, StoredOrder
from services.orders.domain import fulfilment as rules
from services.orders.domain.fulfilment import FulfilledOrder, Ledger

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "carrier-secret"


def order(status: str, *ledgers: Ledger, ship_by: datetime | None = NOW + timedelta(hours=1)) -> FulfilledOrder:
    lines = [
        OrderLine(
            sku_id=ledger.sku_id,
            product_id="p",
            title="Tea",
            sku_name="250 g",
            quantity=ledger.quantity,
            unit_price_minor=100,
            amount_minor=100 * ledger.quantity,
        )
        for ledger in ledgers
    ]
    stored = StoredOrder(
        order_id="o1",
        checkout_id="c1",
        buyer_id="b1",
        merchant_id="m1",
        status=status,
        amount_minor=sum(line.amount_minor for line in lines),
        currency="USD",
        lines=lines,
    )
    return FulfilledOrder(order=stored, ledgers=list(ledgers), paid_at=NOW - timedelta(hours=47), ship_by=ship_by)


def line(line_no: int, quantity: int, **counts: int) -> Ledger:
    return Ledger(line_no=line_no, sku_id=f"sku-{line_no}", quantity=quantity, **counts)


def test_ledger_derives_what_is_left_to_ship_refundable_and_returnable() -> None:
    ledger = line(0, 5, shipped=3, cancelled=1, refund_requested=2, returned=1)
    assert (ledger.to_ship, ledger.refundable, ledger.returnable) == (1, 2, 2)


def test_order_machine_lets_only_a_paid_order_be_cancelled_by_its_buyer_and_ships_from_paid_or_partial() -> None:
    assert domain.sources(ORDER_TRANSITIONS, OrderStatus.CANCELLED) == ["awaiting_payment", "paid"]
    assert domain.sources(ORDER_TRANSITIONS, OrderStatus.SHIPPED) == ["paid", "partially_shipped"]
    assert domain.sources(ORDER_TRANSITIONS, OrderStatus.DELIVERED) == ["shipped"]
    assert domain.sources(ORDER_TRANSITIONS, OrderStatus.COMPLETED) == ["delivered", "shipped"]
    assert not ORDER_TRANSITIONS[OrderStatus.COMPLETED]
    assert not ORDER_TRANSITIONS[OrderStatus.CANCELLED]


def test_shipment_without_lines_sends_everything_left_to_ship() -> None:
    paid = order("partially_shipped", line(0, 2, shipped=2), line(1, 3, shipped=1), line(2, 1))
    sent = rules.plan_shipment(paid, None)
    assert sent == [(1, 2), (2, 1)]
    assert rules.status_after_shipment(paid, sent) == OrderStatus.SHIPPED
    assert rules.status_after_shipment(paid, [(1, 1)]) == OrderStatus.PARTIALLY_SHIPPED


def test_shipment_refuses_more_than_is_left_an_unknown_line_or_a_line_twice_naming_the_field() -> None:
    paid = order("paid", line(0, 2), line(1, 1, cancelled=1))
    with pytest.raises(rules.QuantityExceedsUnshipped) as over:
        rules.plan_shipment(paid, [(0, 2), (1, 1)])
    assert over.value.field == "lines[1].quantity"
    with pytest.raises(rules.UnknownLine) as unknown:
        rules.plan_shipment(paid, [(4, 1)])
    assert unknown.value.field == "lines[0].line_no"
    with pytest.raises(rules.DuplicateLine) as twice:
        rules.plan_shipment(paid, [(0, 1), (0, 1)])
    assert twice.value.field == "lines[1].line_no"


@pytest.mark.parametrize("status", ["awaiting_payment", "shipped", "delivered", "completed", "cancelled"])
def test_only_paid_or_partly_shipped_orders_ship(status: str) -> None:
    with pytest.raises(rules.OrderNotShippable) as refused:
        rules.plan_shipment(order(status, line(0, 1)), None)
    assert refused.value.extra["order_status"] == status


def test_cancel_before_anything_shipped_cancels_the_whole_order() -> None:
    plan = rules.plan_cancel(order("paid", line(0, 2), line(1, 1)), NOW)
    assert plan == rules.CancelPlan([(0, 2), (1, 1)], True, "buyer_cancelled", OrderStatus.CANCELLED)


def test_cancel_of_a_partly_shipped_order_waits_until_it_is_late_then_cancels_the_rest() -> None:
    partial = order("partially_shipped", line(0, 2, shipped=1), line(1, 1), ship_by=NOW)
    with pytest.raises(rules.AlreadyShipping):
        rules.plan_cancel(partial, NOW - timedelta(seconds=1))
    plan = rules.plan_cancel(partial, NOW)
    assert plan == rules.CancelPlan([(0, 1), (1, 1)], False, "late_shipment", OrderStatus.SHIPPED)


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        ("shipped", rules.NothingToCancel),
        ("delivered", rules.NothingToCancel),
        ("completed", rules.NothingToCancel),
        ("awaiting_payment", rules.OrderNotCancellable),
        ("cancelled", rules.OrderNotCancellable),
    ],
)
def test_cancel_is_refused_once_nothing_is_left_to_ship_or_before_payment(
    status: str, refusal: type[Exception]
) -> None:
    with pytest.raises(refusal):
        rules.plan_cancel(order(status, line(0, 1, shipped=1 if status != "awaiting_payment" else 0)), NOW)


def test_late_is_past_ship_by_with_units_left_to_ship() -> None:
    assert rules.is_late("paid", NOW, 1, NOW)
    assert not rules.is_late("paid", NOW, 1, NOW - timedelta(seconds=1))
    assert not rules.is_late("partially_shipped", NOW, 0, NOW)
    assert not rules.is_late("shipped", NOW, 0, NOW + timedelta(days=1))
    assert not rules.is_late("paid", None, 1, NOW)


def test_completion_clock_stops_for_cases_and_resumes_with_what_was_left() -> None:
    running = rules.completion_on_delivery(NOW, 7 * 86400, cases_open=False)
    assert running == rules.Completion(NOW + timedelta(days=7), None)
    held = rules.completion_on_delivery(NOW, 7 * 86400, cases_open=True)
    assert held.paused_at == NOW
    # Paused two days in, for three days: five days are left from the resumption.
    resumed = rules.resumed_complete_by(running.complete_by, NOW + timedelta(days=2), NOW + timedelta(days=5))
    assert resumed == NOW + timedelta(days=10)
    delivered = FulfilledOrder(
        order=order("delivered", line(0, 1, shipped=1)).order, ledgers=[], complete_by=NOW, completion_paused_at=None
    )
    assert rules.is_due_to_complete(delivered, False, NOW)
    assert not rules.is_due_to_complete(delivered, True, NOW)
    assert not rules.is_due_to_complete(delivered, False, NOW - timedelta(seconds=1))


def test_confirm_receipt_completes_a_shipped_or_delivered_order_and_again_is_a_no_op() -> None:
    assert rules.ensure_completable(order("shipped", line(0, 1, shipped=1)))
    assert rules.ensure_completable(order("delivered", line(0, 1, shipped=1)))
    assert not rules.ensure_completable(order("completed", line(0, 1, shipped=1)))
    with pytest.raises(rules.OrderNotCompletable):
        rules.ensure_completable(order("partially_shipped", line(0, 2, shipped=1)))


# --- the carrier's signature ----------------------------------------------------------------------------------------


def signed(payload: bytes, at: int, secret: str = SECRET) -> str:
    return f"t={at},v1={hmac.new(secret.encode(), f'{at}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def test_carrier_signature_made_with_the_secret_within_the_tolerance_verifies() -> None:
    payload = b'{"event_id": "e1"}'
    now = time.time()
    rules.verify_carrier_signature(payload, signed(payload, int(now)), SECRET, 300, now)
    rules.verify_carrier_signature(payload, signed(payload, int(now) - 299), SECRET, 300, now)
    assert rules.carrier_signature(payload, SECRET, int(now)) == signed(payload, int(now))
    # A second v1 (the carrier rolling its secret) is accepted if either matches.
    rolling = signed(payload, int(now), "old-secret") + ",v1=" + signed(payload, int(now)).split("v1=")[1]
    rules.verify_carrier_signature(payload, rolling, SECRET, 300, now)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=00",
        "t=1,t=2,v1=00",
        "v1=00",
        "t=1000",
    ],
)
def test_malformed_carrier_signature_is_refused(header: str | None) -> None:
    with pytest.raises(rules.InvalidCarrierSignature):
        rules.verify_carrier_signature(b"{}", header, SECRET, 300, 1000.0)


def test_carrier_signature_of_another_secret_body_or_time_is_refused() -> None:
    payload = b'{"event_id": "e1"}'
    now = 1_700_000_000.0
    for header, body in (
        (signed(payload, int(now), "wrong"), payload),
        (signed(payload, int(now)), payload + b" "),
        (signed(payload, int(now) - 301), payload),
        (signed(payload, int(now) + 301), payload),
    ):
        with pytest.raises(rules.InvalidCarrierSignature):
            rules.verify_carrier_signature(body, header, SECRET, 300, now)
