"""The case state machine and the opening rules, without I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.errors import Conflict, Invalid
from services.aftersales import domain
from services.aftersales.domain import Case
from services.aftersales.domain.opening import AskedLine, LineFacts, OrderFacts, check_opening
from services.aftersales.settings import AftersalesSettings

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _case(status: str, kind: str = "refund_only", escalated_from: str | None = None) -> Case:
    return Case(
        case_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        buyer_id="b",
        merchant_id=str(uuid.uuid4()),
        kind=kind,
        status=status,
        escalated_from=escalated_from,
        grant_attempt=0,
        version=0,
        deadline=None,
    )


@pytest.mark.parametrize(
    ("kind", "status", "action", "extra", "expected"),
    [
        ("refund_only", "requested", "approve", {}, ("refund_pending", True, False)),
        ("return_and_refund", "requested", "approve", {}, ("awaiting_return", False, False)),
        ("return_and_refund", "return_in_transit", "confirm_receipt", {}, ("refund_pending", True, True)),
        ("exchange", "return_in_transit", "confirm_receipt", {}, ("replacement_pending", False, True)),
        ("refund_only", "escalated", "decide", {"in_favour_of": "merchant"}, ("closed", False, False)),
        ("exchange", "refund_offered", "accept_refund", {}, ("refund_pending", True, False)),
        ("refund_only", "refund_failed", "retry_refund", {}, ("refund_pending", True, False)),
        ("exchange", "replacement_pending", "replacement_overdue", {}, ("escalated", False, False)),
    ],
)
def test_where_each_move_leads(kind: str, status: str, action: str, extra: dict, expected: tuple) -> None:
    planned = domain.plan(_case(status, kind), action, **extra)
    assert (planned.status, planned.grant, planned.return_received) == expected


@pytest.mark.parametrize(
    ("escalated_from", "kind", "expected"),
    [
        ("rejected", "refund_only", "refund_pending"),
        ("rejected", "return_and_refund", "awaiting_return"),
        ("receipt_refused", "return_and_refund", "refund_pending"),
        ("receipt_refused", "exchange", "replacement_pending"),
        ("replacement_pending", "exchange", "refund_pending"),
    ],
)
def test_an_operator_for_the_buyer_resumes_where_the_case_was_stopped(
    escalated_from: str, kind: str, expected: str
) -> None:
    planned = domain.plan(_case("escalated", kind, escalated_from), "decide", in_favour_of="buyer")
    assert planned.status == expected
    assert planned.release == (escalated_from == "replacement_pending")


def test_a_move_out_of_its_states_is_refused_with_the_status() -> None:
    with pytest.raises(Conflict) as refused:
        domain.plan(_case("closed"), "approve")
    assert refused.value.code == "case-not-approvable"
    assert refused.value.extra == {"case_status": "closed"}


def test_every_resting_state_with_a_deadline_has_a_timeout_move_from_it() -> None:
    settings = AftersalesSettings()
    for name, state in domain.STATES.items():
        assert (state.deadline_setting is None) == (state.timeout is None), name
        if state.timeout:
            assert name in domain.MOVES[state.timeout].sources, name
            assert domain.deadline_of(name, settings, NOW) > NOW
        assert (state.next_action is None) == (name in domain.FINAL)
    assert {"refunded", "exchanged", "closed", "cancelled"} == domain.FINAL


def test_an_out_of_stock_replacement_becomes_a_refund_offer() -> None:
    planned = domain.plan(_case("return_in_transit", "exchange"), "confirm_receipt")
    assert domain.out_of_stock(planned).status == "refund_offered"


ORDER = OrderFacts(order_id="o", buyer_id="b", merchant_id="m", cancelled=False, delivered_at=None)


def _line(shipped: int = 2, held: int = 0, cases: int = 0) -> dict[int, LineFacts]:
    return {0: LineFacts(line_no=0, sku_id="s", product_id="p", quantity=3, shipped=shipped, held=held, cases=cases)}


def _open(lines: dict[int, LineFacts], asked: list[AskedLine], order: OrderFacts = ORDER, kind: str = "refund_only"):
    return check_opening(order, lines, asked, kind=kind, now=NOW, window_s=3600, max_cases_per_line=3)


def test_a_case_may_ask_for_shipped_units_not_in_other_live_cases() -> None:
    assert _open(_line(shipped=2, held=1), [AskedLine(line_no=0, quantity=1)])[0].quantity == 1
    with pytest.raises(Invalid) as refused:
        _open(_line(shipped=2, held=1), [AskedLine(line_no=0, quantity=2)])
    assert (refused.value.code, refused.value.field, refused.value.extra) == (
        "quantity-exceeds-refundable",
        "lines[0].quantity",
        {"refundable": 1},
    )


def test_opening_refusals() -> None:
    with pytest.raises(Conflict, match="cancelled"):
        _open(_line(), [AskedLine(line_no=0, quantity=1)], ORDER.__class__(**{**_facts(), "cancelled": True}))
    late = OrderFacts(**{**_facts(), "delivered_at": NOW - timedelta(seconds=3601)})
    with pytest.raises(Conflict) as closed:
        _open(_line(), [AskedLine(line_no=0, quantity=1)], late)
    assert closed.value.code == "case-window-closed"
    with pytest.raises(Conflict) as limit:
        _open(_line(cases=3), [AskedLine(line_no=0, quantity=1)])
    assert limit.value.code == "case-limit-reached"
    with pytest.raises(Invalid) as one_line:
        _open(_line(), [AskedLine(line_no=0, quantity=1)] * 2, kind="exchange")
    assert one_line.value.code == "exchange-one-line"
    assert _open(_line(), [AskedLine(line_no=0, quantity=1)], kind="exchange")[0].replacement_sku_id == "s"


def _facts() -> dict:
    return {"order_id": "o", "buyer_id": "b", "merchant_id": "m", "cancelled": False, "delivered_at": None}


def test_a_grant_id_is_stable_per_case_and_attempt() -> None:
    from services.aftersales.domain.events import grant_id

    assert grant_id("c", 1) == grant_id("c", 1) != grant_id("c", 2)
