"""The pure rules of the checkout, order and after-sales pages (services/web/domain/orders.py): the timeline, where a
payment stands, the buttons an order offers, the forms read into API bodies, and every text they make translated."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.web.adapters.catalogues import load_catalogues
from services.web.domain import orders as rules

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _order(**more: object) -> dict:
    order = {
        "order_id": "o1",
        "status": "paid",
        "currency": "USD",
        "amount_minor": 3000,
        "created_at": T0,
        "paid_at": T0 + timedelta(minutes=1),
        "lines": [
            {"line_no": 0, "title": "Mug", "deal_id": None, "ledger": {"to_ship": 2, "refundable": 0, "returnable": 0}},
            {"line_no": 1, "title": "Voucher", "deal_id": "d1", "ledger": {"to_ship": 0, "refundable": 1}},
        ],
        "shipments": [],
        "refunds": [],
    }
    return order | more


def test_every_text_the_domain_makes_reads_in_simplified_chinese() -> None:
    chinese = load_catalogues()["zh_Hans"]
    made = {
        *rules.CANCEL_REASONS.values(),
        *rules.REFUND_ORIGINS.values(),
        *rules.CASE_KIND_LABELS.values(),
        *(label for _pm, label in rules.PAYMENT_METHODS),
        "Order placed",
        "Order paid",
        "Shipped",
        "Parcel delivered",
        "Order cancelled",
        "Receipt confirmed: completed",
        "Completed automatically",
        "After-sales case opened",
        "Refund requested",
        "Refund paid",
        "Refund failed",
        "Required",
        "Fill in the fields marked",
        "Choose a payment method",
        "This form is out of date: go back and try again.",
        "Your cart is empty.",
        "Nothing to check out.",
    }
    missing = sorted(text for text in made if chinese.gettext(text) == text)
    assert not missing, missing


def test_the_timeline_tells_an_order_oldest_first_with_tracking_cases_and_refunds() -> None:
    order = _order(
        status="shipped",
        shipments=[
            {
                "shipment_id": "s1",
                "carrier": "ups",
                "tracking_number": "1Z9",
                "lines": [{"line_no": 0, "quantity": 2}],
                "shipped_at": T0 + timedelta(hours=2),
                "delivered_at": T0 + timedelta(days=2),
            }
        ],
        refunds=[
            {
                "grant_id": "g1",
                "case_id": "c1",
                "origin": "case",
                "amount_minor": 1000,
                "currency": "USD",
                "status": "succeeded",
                "created_at": T0 + timedelta(days=3),
                "settled_at": T0 + timedelta(days=3, minutes=1),
            }
        ],
    )
    cases = [{"case_id": "c1", "kind": "return_and_refund", "created_at": T0 + timedelta(days=2, hours=1)}]
    steps = rules.timeline(order, cases, "/cases/")
    assert [s.testid for s in steps] == [
        "placed",
        "paid",
        "shipped-0",
        "delivered-0",
        "case",
        "refund",
        "refund-paid",
    ]
    assert steps[2].detail == "ups 1Z9 · Mug x 2"
    assert steps[4].note == "Return and refund"
    assert steps[4].href == steps[6].href == "/cases/c1"
    assert steps[6].amount == (1000, "USD")


@pytest.mark.parametrize(
    ("checkout", "payment", "paying", "polls", "state"),
    [
        ("awaiting_payment", "requires_payment", None, 0, "payable"),
        ("awaiting_payment", "requires_payment", "requires_payment", 3, "processing"),
        ("awaiting_payment", "failed", "requires_payment", 3, "failed"),
        # Paying again after a decline: still `failed` at orders until Stripe's answer comes in.
        ("awaiting_payment", "failed", "failed", 3, "processing"),
        ("awaiting_payment", "failed", "failed", rules.MAX_PAYMENT_POLLS, "stalled"),
        ("awaiting_payment", "failed", None, 0, "failed"),
        ("awaiting_payment", "succeeded", "requires_payment", 1, "paid"),
        ("paid", "succeeded", None, 0, "paid"),
        ("expired", "requires_payment", None, 0, "expired"),
    ],
)
def test_where_paying_stands(checkout: str, payment: str, paying: str | None, polls: int, state: str) -> None:
    found = {"status": checkout, "payment": {"status": payment}}
    assert rules.payment_state(found, paying, polls) == state


def test_an_order_offers_what_its_state_allows() -> None:
    paid = rules.buyer_actions(_order())
    assert (paid.pay, paid.confirm_receipt, paid.cancel, paid.open_case) == (False, False, True, False)
    vouchers_only = _order(lines=[_order()["lines"][1]])
    assert rules.buyer_actions(vouchers_only).cancel is False  # nothing of it ships: refund vouchers instead
    shipped = _order(
        status="shipped",
        lines=[{"line_no": 0, "deal_id": None, "ledger": {"to_ship": 0, "refundable": 2, "returnable": 1}}],
    )
    actions = rules.buyer_actions(shipped)
    assert (actions.confirm_receipt, actions.cancel, actions.open_case) == (True, False, True)
    assert rules.case_limit(shipped["lines"][0]["ledger"]) == 1
    assert rules.buyer_actions(_order(status="awaiting_payment")).pay is True


def test_the_case_form_becomes_aftersales_body_and_its_fields_answer_for_the_api() -> None:
    values = {
        "kind": "exchange",
        "reason_code": "wrong_item",
        "description": " too small ",
        "evidence_urls": "https://a.example/1.jpg\n\nhttps://a.example/2.jpg",
        "line-0-quantity": "0",
        "line-2-quantity": "1",
        "line-2-replacement": "sku-m",
    }
    form = rules.read_case_form(values, [0, 2], "o1")
    assert not form.errors
    assert form.body == {
        "order_id": "o1",
        "kind": "exchange",
        "reason_code": "wrong_item",
        "description": "too small",
        "evidence_urls": ["https://a.example/1.jpg", "https://a.example/2.jpg"],
        "lines": [{"line_no": 2, "quantity": 1, "replacement_sku_id": "sku-m"}],
    }
    assert form.error_for_api_field("lines[0].quantity") == "line-2-quantity"
    assert form.error_for_api_field("lines[0].replacement_sku_id") == "line-2-replacement"
    assert form.error_for_api_field("evidence_urls[1]") == "evidence_urls"
    assert form.error_for_api_field("order_id") == ""
    assert form.error_for_api_field("lines[5].quantity") == ""
    refund = rules.read_case_form(values | {"kind": "refund_only"}, [0, 2], "o1")
    assert refund.body["lines"] == [{"line_no": 2, "quantity": 1}]  # only an exchange names a replacement
    empty = rules.read_case_form({"kind": "nope", "line-0-quantity": "x"}, [0], "o1")
    assert set(empty.errors) == {"kind", "reason_code", "line-0-quantity"}


def test_the_ship_form_sends_the_units_typed_and_needs_a_carrier_and_tracking_number() -> None:
    form = rules.read_ship_form(
        {"carrier": "ups", "tracking_number": "1Z", "line-0-quantity": "2", "line-1-quantity": ""}, [0, 1]
    )
    assert form.body == {"carrier": "ups", "tracking_number": "1Z", "lines": [{"line_no": 0, "quantity": 2}]}
    assert form.error_for_api_field("tracking_number") == "tracking_number"
    blank = rules.read_ship_form({"carrier": " ", "line-0-quantity": "0"}, [0])
    assert set(blank.errors) == {"carrier", "tracking_number", "lines"}
    assert rules.read_ruling({"in_favour_of": "cat", "note": "n"})[1] == {
        "in_favour_of": "Choose the buyer or the merchant"
    }
