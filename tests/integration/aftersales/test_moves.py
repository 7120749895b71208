"""A case's moves by its buyer, its merchant and operators: each from its states only, once however often asked;
approvals become one refund grant; orders' refund results settle the case."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg

from libs.contracts import RefundFailed, RefundSucceeded
from libs.ids import derived_id
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.aftersales.support import call, case_as, case_body, known_order, opened, sent

SERVICES = ("aftersales",)

GRANTED = "aftersales.refund.granted.v1"
CLOSED = "aftersales.case.closed.v1"
RETURNED = "aftersales.return.received.v1"


def refund_result(case: dict, grant_id: str, *, ok: bool):
    facts = dict(
        grant_id=grant_id,
        case_id=case["case_id"],
        order_id=case["order_id"],
        checkout_id=str(uuid.uuid4()),
        buyer_id=case["buyer_id"],
        merchant_id=case["merchant_id"],
        amount_minor=1000,
        currency="USD",
        refund_lines=[],
        lines=[],
    )
    if ok:
        return RefundSucceeded(**facts, stripe_refund_id="re_123", refunded_at=datetime.now(UTC))
    return RefundFailed(**facts, reason="over-refundable")


async def test_an_approved_refund_only_case_is_granted_once_and_refunded(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    path = f"/seller/cases/{case['case_id']}/approve"
    approved = (await call(stack, merchant, path)).json()
    assert (approved["status"], approved["next_action"], approved["deadline"]) == ("refund_pending", "platform", None)
    body = assert_problem(await call(stack, merchant, path), 409, "case-not-approvable")
    assert body["case_status"] == "refund_pending"
    grants = await sent(db, GRANTED, case["case_id"])
    assert [(g["grant_id"], g["lines"]) for g in grants] == [
        (derived_id("grant", case["case_id"], "1"), [{"line_no": 0, "sku_id": paid.lines[0].sku_id, "quantity": 1}])
    ]
    await publish(stack, refund_result(case, grants[0]["grant_id"], ok=True))

    async def refunded() -> dict | None:
        now = await case_as(stack, buyer, f"/cases/{case['case_id']}")
        return now if now["status"] == "refunded" else None

    done = await eventually(refunded)
    assert (done["refund_amount_minor"], done["stripe_refund_id"], done["next_action"]) == (1000, "re_123", None)
    assert done["closed_at"]
    assert [h["action"] for h in done["history"]] == ["opened", "approved", "refunded"]
    assert [e["status"] for e in await sent(db, CLOSED, case["case_id"])] == ["refunded"]


async def test_ten_approvals_at_once_make_one_grant(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    answers = await asyncio.gather(
        *(call(stack, merchant, f"/seller/cases/{case['case_id']}/approve") for _ in range(10))
    )
    assert sorted(a.status_code for a in answers) == [200] + [409] * 9
    for loser in (a for a in answers if a.status_code == 409):
        assert assert_problem(loser, 409, "case-not-approvable")["case_status"] == "refund_pending"
    assert len(await sent(db, GRANTED, case["case_id"])) == 1


async def test_moves_out_of_turn_are_refused(stack: Stack) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    cid = case["case_id"]
    assert_problem(await call(stack, buyer, f"/seller/cases/{cid}/approve"), 403)
    assert_problem(await call(stack, merchant, f"/cases/{cid}/escalate"), 403)
    assert_problem(await call(stack, buyer, f"/operator/cases/{cid}/retry-refund"), 403)
    assert_problem(await call(stack, buyer, f"/cases/{cid}/escalate"), 409, "case-not-escalatable")
    tracking = {"carrier": "ups", "tracking_number": "1Z"}
    assert_problem(await call(stack, buyer, f"/cases/{cid}/return-shipment", tracking), 409, "case-not-returnable")
    await call(stack, buyer, f"/cases/{cid}/cancel")
    body = assert_problem(await call(stack, merchant, f"/seller/cases/{cid}/approve"), 409, "case-not-approvable")
    assert body["case_status"] == "cancelled"


async def test_a_rejected_case_escalated_is_decided_by_an_operator(stack: Stack, db: asyncpg.Connection) -> None:
    operator = stack.infra.token("operator")
    paid, buyer, merchant = await known_order(stack, 2)
    for_buyer = await opened(stack, buyer, case_body(paid))
    for_merchant = await opened(stack, buyer, case_body(paid))
    for case in (for_buyer, for_merchant):
        rejected = await call(stack, merchant, f"/seller/cases/{case['case_id']}/reject", {"reason": "used"})
        assert (rejected.json()["status"], rejected.json()["reject_reason"]) == ("rejected", "used")
        escalated = (await call(stack, buyer, f"/cases/{case['case_id']}/escalate")).json()
        assert (escalated["status"], escalated["next_action"]) == ("escalated", "operator")
    waiting = await case_as(stack, operator, "/operator/cases")
    assert {for_buyer["case_id"], for_merchant["case_id"]} <= {c["case_id"] for c in waiting["items"]}
    decided = await call(
        stack, operator, f"/operator/cases/{for_buyer['case_id']}/decide", {"in_favour_of": "buyer", "note": "photo"}
    )
    assert (decided.json()["status"], decided.json()["decision"]) == ("refund_pending", "buyer")
    assert len(await sent(db, GRANTED, for_buyer["case_id"])) == 1
    lost = await call(
        stack, operator, f"/operator/cases/{for_merchant['case_id']}/decide", {"in_favour_of": "merchant", "note": "x"}
    )
    assert lost.json()["status"] == "closed"
    assert [e["status"] for e in await sent(db, CLOSED, for_merchant["case_id"])] == ["closed"]
    assert await sent(db, GRANTED, for_merchant["case_id"]) == []


async def test_a_return_is_sent_received_and_refunded(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, merchant = await known_order(stack, 3, 2)
    lines = [{"line_no": 0, "quantity": 2}, {"line_no": 1, "quantity": 1}]
    case = await opened(stack, buyer, case_body(paid, "return_and_refund", lines))
    cid = case["case_id"]
    approved = (await call(stack, merchant, f"/seller/cases/{cid}/approve")).json()
    assert (approved["status"], approved["next_action"]) == ("awaiting_return", "buyer")
    assert approved["deadline"]
    assert await sent(db, GRANTED, cid) == []
    tracking = {"carrier": "ups", "tracking_number": "1Z999"}
    in_transit = (await call(stack, buyer, f"/cases/{cid}/return-shipment", tracking)).json()
    assert (in_transit["status"], in_transit["return_shipment"]) == ("return_in_transit", tracking)
    bad = await call(
        stack, merchant, f"/seller/cases/{cid}/confirm-receipt", {"lines": [{"line_no": 0, "restockable": 3}]}
    )
    assert_problem(bad, 422, "restockable-exceeds-returned", "lines[0].restockable")
    received = await call(
        stack, merchant, f"/seller/cases/{cid}/confirm-receipt", {"lines": [{"line_no": 0, "restockable": 1}]}
    )
    assert received.json()["status"] == "refund_pending"
    assert [(ln["line_no"], ln["restockable"]) for ln in received.json()["lines"]] == [(0, 1), (1, 1)]
    [returned] = await sent(db, RETURNED, cid)
    assert [(ln["line_no"], ln["quantity"], ln["restockable"]) for ln in returned["lines"]] == [(0, 2, 1), (1, 1, 1)]
    [grant] = await sent(db, GRANTED, cid)
    assert [(ln["line_no"], ln["quantity"]) for ln in grant["lines"]] == [(0, 2), (1, 1)]


async def test_a_refused_receipt_may_be_escalated(stack: Stack) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid, "return_and_refund"))
    cid = case["case_id"]
    await call(stack, merchant, f"/seller/cases/{cid}/approve")
    await call(stack, buyer, f"/cases/{cid}/return-shipment", {"carrier": "ups", "tracking_number": "1Z1"})
    refused = (await call(stack, merchant, f"/seller/cases/{cid}/refuse-receipt", {"reason": "empty box"})).json()
    assert (refused["status"], refused["refuse_reason"], refused["next_action"]) == (
        "receipt_refused",
        "empty box",
        "buyer",
    )
    escalated = (await call(stack, buyer, f"/cases/{cid}/escalate")).json()
    assert (escalated["status"], escalated["escalated_from"]) == ("escalated", "receipt_refused")
    operator = stack.infra.token("operator")
    decided = await call(stack, operator, f"/operator/cases/{cid}/decide", {"in_favour_of": "buyer", "note": "ok"})
    assert decided.json()["status"] == "refund_pending"
    # Nobody looked at the units the merchant said never came: none restocked.
    assert [ln["restockable"] for ln in decided.json()["lines"]] == [0]


async def test_a_failed_refund_is_retried_by_an_operator_as_a_new_grant(stack: Stack, db: asyncpg.Connection) -> None:
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    cid = case["case_id"]
    await call(stack, merchant, f"/seller/cases/{cid}/approve")
    first = derived_id("grant", cid, "1")
    await publish(
        stack, refund_result(case | {"buyer_id": paid.buyer_id, "merchant_id": paid.merchant_id}, first, ok=False)
    )
    operator = stack.infra.token("operator")

    async def failed() -> bool:
        return (await case_as(stack, operator, f"/operator/cases/{cid}"))["status"] == "refund_failed"

    await eventually(failed)
    view = await case_as(stack, buyer, f"/cases/{cid}")
    assert view["next_action"] == "operator"
    assert cid in {c["case_id"] for c in (await case_as(stack, operator, "/operator/cases"))["items"]}
    retried = (await call(stack, operator, f"/operator/cases/{cid}/retry-refund")).json()
    assert retried["status"] == "refund_pending"
    assert_problem(await call(stack, operator, f"/operator/cases/{cid}/retry-refund"), 409, "case-not-retryable")
    grants = [g["grant_id"] for g in await sent(db, GRANTED, cid)]
    assert grants == [first, derived_id("grant", cid, "2")]


async def test_the_merchants_queue_is_sorted_by_deadline_and_filtered(stack: Stack) -> None:
    merchant_id = str(uuid.uuid4())
    paid, buyer, merchant = await known_order(stack, 3, merchant_id=merchant_id)
    first = await opened(stack, buyer, case_body(paid))
    second = await opened(stack, buyer, case_body(paid))
    await call(stack, merchant, f"/seller/cases/{first['case_id']}/approve")
    queue = await case_as(stack, merchant, "/seller/cases")
    assert [c["case_id"] for c in queue["items"]] == [second["case_id"], first["case_id"]]
    requested = await case_as(stack, merchant, "/seller/cases?status=requested")
    assert [c["case_id"] for c in requested["items"]] == [second["case_id"]]
    async with stack.client("aftersales", merchant) as client:
        assert_problem(await client.get("/seller/cases?status=bogus"), 400, "invalid-status")
