"""The operator's arbitration queue through the web app, against real services: an escalated case with both sides'
words, ruled for the buyer with a note (and refunded), a ruling out of turn refused in aftersales' words; a failed
refund retried as a new grant; other roles 403, CSRF required, an unknown case 404."""

from __future__ import annotations

import re
import uuid

import pytest

from libs.contracts import RefundFailed
from libs.ids import derived_id
from tests.harness import Stack, eventually, publish
from tests.integration.aftersales.support import call, case_body, known_order, opened
from tests.integration.web.support import signed_in_as
from tests.integration.web.test_checkout_pages import buyer_api
from tests.integration.web.test_order_pages import opened_case, paid_demo_order, post, ship, text_of
from tests.integration.web.test_seller_orders_pages import buyer_moves

SERVICES = ("shop", "orders", "aftersales", "web")
SETTINGS = {"checkout_burst": 1000, "max_unpaid_checkouts": 1000}
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def operator_case(stack: Stack, case_id: str) -> dict:
    async with stack.client("aftersales", stack.infra.token("operator")) as client:
        answer = await client.get(f"/operator/cases/{case_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def escalated_case(stack: Stack) -> dict:
    """A refund-only case of the demo buyer the demo merchant rejected and the buyer escalated."""
    order = await paid_demo_order(stack)
    await ship(stack, order["order_id"])
    case = await opened_case(stack, order, "refund_only")
    async with stack.client("aftersales", stack.demo.token(stack.infra, "merchant")) as seller:
        rejected = await seller.post(f"/seller/cases/{case['case_id']}/reject", json={"reason": "it was sent whole"})
    assert rejected.status_code == 200, rejected.text
    return await buyer_moves(stack, case["case_id"], "escalate")


async def test_an_escalated_case_is_ruled_for_the_buyer_with_a_note_both_sides_read(stack: Stack) -> None:
    case = await escalated_case(stack)
    case_id = case["case_id"]
    async with signed_in_as(stack, "operator") as client:
        queue = await client.get("/operator/cases")
        assert queue.status_code == 200
        assert f'data-testid="case-row-{case_id}"' in queue.text
        page = await client.get(f"/operator/cases/{case_id}")
        assert page.status_code == 200
        assert text_of(page.text, "buyer-words") == "the handle came off"
        assert text_of(page.text, "reject-reason") == "Rejected: it was sent whole"
        assert text_of(page.text, "case-merchant") == "Demo Outfitters"
        assert text_of(page.text, "case-buyer") == "buyer-demo"
        assert re.findall(r'data-testid="history-(\w+)"', page.text) == ["opened", "rejected", "escalated"]

        no_note = await post(client, f"/operator/cases/{case_id}/decide", in_favour_of="buyer", note="")
        assert no_note.status_code == 422
        assert 'data-testid="error-note"' in no_note.text
        nobody = await post(client, f"/operator/cases/{case_id}/decide", in_favour_of="the cat", note="x")
        assert nobody.status_code == 422
        assert 'data-testid="error-in_favour_of"' in nobody.text
        ruled = await post(client, f"/operator/cases/{case_id}/decide", in_favour_of="buyer", note="photos show damage")
        assert ruled.status_code == 303, ruled.text
        twice = await post(client, f"/operator/cases/{case_id}/decide", in_favour_of="merchant", note="changed mind")
        assert twice.status_code == 409
        assert text_of(twice.text, "refusal").startswith("the case is refund")  # refund_pending or already refunded
        assert f'data-testid="case-row-{case_id}"' not in (await client.get("/operator/cases")).text

    async def refunded() -> bool:
        return (await operator_case(stack, case_id))["status"] == "refunded"

    await eventually(refunded, timeout=30, interval=0.5)
    async with signed_in_as(stack, "buyer") as client:
        mine = await client.get(f"/cases/{case_id}")
        assert text_of(mine.text, "decision") == "Ruled for the buyer: photos show damage"
        assert text_of(mine.text, "case-status") == "Refund paid"
        assert text_of(mine.text, "case-refund").startswith("$10.00")
    found = await operator_case(stack, case_id)
    assert (found["decision"], found["decision_note"]) == ("buyer", "photos show damage")


async def test_a_failed_refund_is_retried_from_the_queue_as_a_new_grant(stack: Stack) -> None:
    # A case on an order orders never heard of (aftersales is told of it directly): its refund can only fail.
    paid, buyer, merchant = await known_order(stack, 2)
    case = await opened(stack, buyer, case_body(paid))
    case_id = case["case_id"]
    approved = await call(stack, merchant, f"/seller/cases/{case_id}/approve")
    assert approved.status_code == 200, approved.text
    first = derived_id("grant", case_id, "1")
    await publish(
        stack,
        RefundFailed(
            grant_id=first,
            case_id=case_id,
            order_id=paid.order_id,
            checkout_id=paid.checkout_id,
            buyer_id=paid.buyer_id,
            merchant_id=paid.merchant_id,
            amount_minor=1000,
            currency="USD",
            refund_lines=[],
            lines=[],
            reason="stripe-failed: expired_or_canceled_card",
        ),
    )

    async def failed() -> bool:
        return (await operator_case(stack, case_id))["status"] == "refund_failed"

    await eventually(failed, timeout=20)
    async with signed_in_as(stack, "operator") as client:
        queue = await client.get("/operator/cases")
        assert f'data-testid="case-row-{case_id}"' in queue.text
        page = await client.get(f"/operator/cases/{case_id}")
        assert 'data-testid="retry-refund"' in page.text
        assert 'data-testid="decide-form"' not in page.text
        retried = await post(client, f"/operator/cases/{case_id}/retry-refund")
        assert retried.status_code == 303
        again = await post(client, f"/operator/cases/{case_id}/retry-refund")
        assert again.status_code == 409
        assert text_of(again.text, "refusal") == "the case is refund_pending: not now"
    found = await operator_case(stack, case_id)
    assert found["status"] == "refund_pending"
    assert [h["action"] for h in found["history"]][-1] == "refund_retried"


async def test_only_an_operator_uses_the_queue_and_csrf_is_required(stack: Stack) -> None:
    case = await escalated_case(stack)
    for role in ("buyer", "merchant"):
        async with signed_in_as(stack, role) as client:
            assert (await client.get("/operator/cases")).status_code == 403
            assert (await client.get(f"/operator/cases/{case['case_id']}")).status_code == 403
            refused = await post(client, f"/operator/cases/{case['case_id']}/decide", in_favour_of="buyer", note="x")
            assert refused.status_code == 403
    async with signed_in_as(stack, "operator") as client:
        forged = await client.post(
            f"/operator/cases/{case['case_id']}/decide", data={"in_favour_of": "buyer", "note": "no token"}
        )
        assert forged.status_code == 403
        assert (await client.get(f"/operator/cases/{uuid.uuid4()}")).status_code == 404
        assert (await post(client, f"/operator/cases/{case['case_id']}/no-such-move")).status_code == 404
    assert (await operator_case(stack, case["case_id"]))["status"] == "escalated"
    assert (await buyer_api(stack, "aftersales", "GET", f"/cases/{case['case_id']}")).json()["decision"] is None
