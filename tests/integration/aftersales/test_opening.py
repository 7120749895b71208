"""Opening a case: only on one's own paid order, only for units shipped and not in other live cases, within the
window, at most three cases a line; one case per Idempotency-Key."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg

from libs.contracts import (
    CancelledLine,
    Event,
    FlashSaleOrdersPlaced,
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderPaid,
    OrderPlaced,
    PlacedOrder,
)
from tests.harness import Stack, assert_problem, eventually, paid_order, publish
from tests.integration.aftersales.support import (
    call,
    case_as,
    case_body,
    delivered,
    known_order,
    lines,
    open_case,
    opened,
    sent,
    shipped,
)

SERVICES = ("aftersales",)


async def test_a_buyer_opens_a_case_once_per_key_and_it_is_announced(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    key = uuid.uuid4().hex
    first = await open_case(stack, buyer, case_body(paid), key=key)
    again = await open_case(stack, buyer, case_body(paid), key=key)
    assert first.status_code == again.status_code == 201, first.text
    case = first.json()
    assert again.json()["case_id"] == case["case_id"]
    assert case["status"] == "requested"
    assert case["next_action"] == "merchant"
    assert case["deadline"]
    assert case["lines"] == [
        {"line_no": 0, "sku_id": paid.lines[0].sku_id, "quantity": 1, "replacement_sku_id": None, "restockable": None}
    ]
    assert case["evidence_urls"] == ["https://img.example/1.jpg"]
    assert [h["action"] for h in case["history"]] == ["opened"]
    opened_events = await sent(db, "aftersales.case.opened.v1", case["case_id"])
    assert len(opened_events) == 1
    assert opened_events[0]["lines"][0]["quantity"] == 1
    mine = await case_as(stack, buyer, "/cases")
    assert [c["case_id"] for c in mine["items"]] == [case["case_id"]]
    queue = await case_as(stack, merchant, "/seller/cases")
    assert [(c["case_id"], c["next_action"]) for c in queue["items"]] == [(case["case_id"], "merchant")]


async def test_someone_elses_order_or_case_is_not_found(stack: Stack) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    stranger = stack.infra.token("buyer")
    assert_problem(await open_case(stack, stranger, case_body(paid)), 404, "order-not-found")
    unknown = case_body(paid, order_id=str(uuid.uuid4()))
    assert_problem(await open_case(stack, buyer, unknown), 404, "order-not-found")
    case = await opened(stack, buyer, case_body(paid))
    async with stack.client("aftersales", stranger) as client:
        assert_problem(await client.get(f"/cases/{case['case_id']}"), 404, "case-not-found")
    assert_problem(await call(stack, stranger, f"/cases/{case['case_id']}/cancel"), 404, "case-not-found")
    other_merchant = stack.infra.token("merchant", merchant_id=str(uuid.uuid4()))
    assert_problem(await call(stack, other_merchant, f"/seller/cases/{case['case_id']}/approve"), 404)
    async with stack.client("aftersales", merchant) as client:
        assert (await client.get(f"/seller/cases/{case['case_id']}")).status_code == 200


async def test_more_units_than_shipped_and_not_in_other_cases_is_refused_naming_the_field(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 3, 2, shipped_units={0: 2, 1: 2})
    too_many = case_body(paid, lines=[{"line_no": 1, "quantity": 1}, {"line_no": 0, "quantity": 3}])
    body = assert_problem(
        await open_case(stack, buyer, too_many), 422, "quantity-exceeds-refundable", "lines[1].quantity"
    )
    assert body["refundable"] == 2
    await opened(stack, buyer, case_body(paid, lines=[{"line_no": 0, "quantity": 2}]))
    assert_problem(
        await open_case(stack, buyer, case_body(paid)), 422, "quantity-exceeds-refundable", "lines[0].quantity"
    )
    unknown_line = case_body(paid, lines=[{"line_no": 7, "quantity": 1}])
    assert_problem(await open_case(stack, buyer, unknown_line), 422, "unknown-line", "lines[0].line_no")


async def test_units_not_shipped_are_not_a_cases(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 2, shipped_units={})
    assert_problem(
        await open_case(stack, buyer, case_body(paid)), 422, "quantity-exceeds-refundable", "lines[0].quantity"
    )


async def test_a_cancelled_case_gives_its_units_back(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 1)
    case = await opened(stack, buyer, case_body(paid))
    assert_problem(await open_case(stack, buyer, case_body(paid)), 422, "quantity-exceeds-refundable")
    assert (await call(stack, buyer, f"/cases/{case['case_id']}/cancel")).json()["status"] == "cancelled"
    await opened(stack, buyer, case_body(paid))


async def test_at_most_three_cases_per_line_whatever_became_of_them(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 5)
    for _ in range(3):
        case = await opened(stack, buyer, case_body(paid))
        await call(stack, buyer, f"/cases/{case['case_id']}/cancel")
    body = assert_problem(await open_case(stack, buyer, case_body(paid)), 409, "case-limit-reached", "lines[0].line_no")
    assert body["limit"] == 3


async def test_a_case_on_a_cancelled_order_is_refused(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 2, shipped_units={})
    cancel = OrderCancelledAfterPayment(
        order_id=paid.order_id,
        checkout_id=paid.checkout_id,
        buyer_id=paid.buyer_id,
        merchant_id=paid.merchant_id,
        lines=paid.lines,
        reason="buyer_cancelled",
        cancelled_lines=[CancelledLine(line_no=0, sku_id=paid.lines[0].sku_id, quantity=2)],
        whole_order=True,
        grant_id=str(uuid.uuid4()),
    )
    await publish(stack, cancel)
    db = stack.apps["aftersales"].runtime.db
    await eventually(lambda: db.fetchval("SELECT cancelled FROM order_progress WHERE order_id = $1", paid.order_id))
    assert_problem(await open_case(stack, buyer, case_body(paid)), 409, "order-cancelled")


async def test_the_window_closes_some_days_after_delivery(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 2)
    window = stack.apps["aftersales"].runtime.settings.case_window_s
    await publish(stack, delivered(paid, stack.clock.now() - timedelta(seconds=window + 60)))
    db = stack.apps["aftersales"].runtime.db
    await eventually(lambda: db.fetchval("SELECT delivered_at FROM order_progress WHERE order_id = $1", paid.order_id))
    assert_problem(await open_case(stack, buyer, case_body(paid)), 409, "case-window-closed")


async def test_a_shipment_heard_before_the_payment_still_counts(stack: Stack) -> None:
    from tests.harness import paid_order
    from tests.integration.aftersales.support import lines, shipped

    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    paid = paid_order(buyer_id=buyer_id, lines=lines(2))
    await publish(stack, shipped(paid))
    db = stack.apps["aftersales"].runtime.db
    await eventually(lambda: db.fetchval("SELECT count(*) FROM shipped_lines WHERE order_id = $1", paid.order_id))
    await publish(stack, paid)
    await eventually(lambda: db.fetchval("SELECT count(*) FROM order_lines WHERE order_id = $1", paid.order_id))
    buyer = stack.infra.token("buyer", sub=buyer_id)
    await opened(stack, buyer, case_body(paid, lines=[{"line_no": 0, "quantity": 2}]))


async def test_two_cases_racing_for_the_last_unit_one_wins(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 1)
    answers = await asyncio.gather(*(open_case(stack, buyer, case_body(paid)) for _ in range(2)))
    assert sorted(a.status_code for a in answers) == [201, 422], [a.text for a in answers]
    loser = next(a for a in answers if a.status_code == 422)
    assert_problem(loser, 422, "quantity-exceeds-refundable", "lines[0].quantity")


async def test_bad_input_is_refused_naming_the_field(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 2)
    bad = {
        "evidence_urls": (["ftp://x"], "evidence_urls[0]"),
        "description": ("x" * 2001, "description"),
        "reason_code": ("bored", "reason_code"),
        "kind": ("swap", "kind"),
    }
    for name, (value, field) in bad.items():
        assert_problem(await open_case(stack, buyer, case_body(paid, **{name: value})), 400, field=field)
    too_many = case_body(paid, evidence_urls=[f"https://img.example/{n}.jpg" for n in range(10)])
    assert_problem(await open_case(stack, buyer, too_many), 400, field="evidence_urls")
    async with stack.client("aftersales", buyer) as client:
        missing_key = await client.post("/cases", json=case_body(paid))
    assert_problem(missing_key, 400, "idempotency-key-required")
    not_exchange = case_body(paid, lines=[{"line_no": 0, "quantity": 1, "replacement_sku_id": str(uuid.uuid4())}])
    assert_problem(await open_case(stack, buyer, not_exchange), 422, "replacement-not-exchange")
    async with stack.client("aftersales", buyer) as client:
        assert (await client.get("/cases")).json()["items"] == []


async def test_an_exchange_for_another_sku_while_shop_is_silent_is_503_and_nothing_opens(stack: Stack) -> None:
    paid, buyer, _ = await known_order(stack, 2)
    body = case_body(paid, "exchange", [{"line_no": 0, "quantity": 1, "replacement_sku_id": str(uuid.uuid4())}])
    assert_problem(await open_case(stack, buyer, body), 503, "shop-unavailable")
    async with stack.client("aftersales", buyer) as client:
        assert (await client.get("/cases")).json()["items"] == []


def _facts(paid: OrderPaid) -> dict:
    return {
        "order_id": paid.order_id,
        "checkout_id": paid.checkout_id,
        "buyer_id": paid.buyer_id,
        "merchant_id": paid.merchant_id,
        "lines": paid.lines,
    }


def _placed(paid: OrderPaid) -> OrderPlaced:
    """The OrderPlaced orders sent before `paid`."""
    return OrderPlaced(
        **_facts(paid),
        payment_id=paid.payment_id,
        amount_minor=paid.amount_minor,
        currency=paid.currency,
        pay_by=paid.paid_at + timedelta(minutes=15),
    )


def _cancelled_unpaid(paid: OrderPaid) -> OrderCancelled:
    """The order of `paid` cancelled instead, its payment window closed."""
    return OrderCancelled(**_facts(paid), reason="payment_timeout")


def _unpaid_order() -> tuple[OrderPaid, str]:
    """What orders will say of an order when it is paid (not sent yet), and its buyer's token's subject."""
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    return paid_order(buyer_id=buyer_id, lines=lines(2)), buyer_id


async def _heard(stack: Stack, consumer: str, event: Event) -> None:
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval("SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event.event_id)
    )


async def test_a_case_on_an_order_placed_and_not_paid_is_409_until_it_is_paid(stack: Stack) -> None:
    paid, buyer_id = _unpaid_order()
    buyer = stack.infra.token("buyer", sub=buyer_id)
    placed = _placed(paid)
    await publish(stack, placed)
    await _heard(stack, "aftersales__placed_orders", placed)
    assert_problem(await open_case(stack, buyer, case_body(paid)), 409, "order-not-paid", "order_id")
    stranger = stack.infra.token("buyer")
    assert_problem(await open_case(stack, stranger, case_body(paid)), 404, "order-not-found", "order_id")
    await publish(stack, paid)
    await publish(stack, shipped(paid))
    db = stack.apps["aftersales"].runtime.db
    await eventually(lambda: db.fetchval("SELECT count(*) FROM shipped_lines WHERE order_id = $1", paid.order_id))
    await eventually(lambda: db.fetchval("SELECT count(*) FROM order_lines WHERE order_id = $1", paid.order_id))
    case = await opened(stack, buyer, case_body(paid))
    assert case["status"] == "requested"
    assert_problem(await open_case(stack, stranger, case_body(paid)), 404, "order-not-found")


async def test_a_flash_sale_order_placed_and_not_paid_is_409(stack: Stack) -> None:
    (mine, buyer_id), (theirs, _) = _unpaid_order(), _unpaid_order()
    batch = FlashSaleOrdersPlaced(
        sale_id=str(uuid.uuid4()),
        room_id=str(uuid.uuid4()),
        orders=[
            PlacedOrder(
                **_facts(paid),
                payment_id=paid.payment_id,
                amount_minor=paid.amount_minor,
                currency=paid.currency,
                pay_by=paid.paid_at,
            )
            for paid in (mine, theirs)
        ],
    )
    await publish(stack, batch)
    await _heard(stack, "aftersales__placed_orders", batch)
    buyer = stack.infra.token("buyer", sub=buyer_id)
    assert_problem(await open_case(stack, buyer, case_body(mine)), 409, "order-not-paid")
    assert_problem(await open_case(stack, buyer, case_body(theirs)), 404, "order-not-found")


async def test_a_case_on_an_order_cancelled_unpaid_is_409_whichever_event_came_first(stack: Stack) -> None:
    in_order, buyer_id = _unpaid_order()
    cancel_first = paid_order(buyer_id=buyer_id, lines=lines(1))
    early_cancel = _cancelled_unpaid(cancel_first)
    for event in (_placed(in_order), _cancelled_unpaid(in_order), early_cancel):
        await publish(stack, event)
    await _heard(stack, "aftersales__unpaid_cancellations", early_cancel)
    late_placed = _placed(cancel_first)
    await publish(stack, late_placed)
    await _heard(stack, "aftersales__placed_orders", late_placed)
    db = stack.apps["aftersales"].runtime.db
    await eventually(
        lambda: db.fetchval("SELECT cancelled_unpaid FROM placed_orders WHERE order_id = $1", in_order.order_id)
    )
    buyer = stack.infra.token("buyer", sub=buyer_id)
    for paid in (in_order, cancel_first):
        assert_problem(await open_case(stack, buyer, case_body(paid)), 409, "order-cancelled", "order_id")
    stranger = stack.infra.token("buyer")
    assert_problem(await open_case(stack, stranger, case_body(cancel_first)), 404, "order-not-found")
