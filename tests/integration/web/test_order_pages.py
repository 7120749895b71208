"""The buyer's orders and after-sales cases through the web app, against real services: orders by status, an order's
timeline with its tracking, receipt confirmed, a paid order cancelled and refunded, orders' refusals in its words;
the after-sales form bounded by orders' ledger, a case opened once per key, the buyer's moves and aftersales'
refusals; someone else's order or case 404, another role 403, CSRF required."""

from __future__ import annotations

import re
import uuid
from html import unescape
from typing import Any

import httpx
import pytest

from tests.harness import Stack, eventually
from tests.integration.orders.support import pay_checkout
from tests.integration.web.support import csrf, hidden, signed_in_as
from tests.integration.web.test_checkout_pages import buyer_api, demo_product

SERVICES = ("shop", "orders", "aftersales", "web")
SETTINGS = {"checkout_burst": 1000, "max_unpaid_checkouts": 1000}
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def paid_demo_order(stack: Stack, *skus: tuple[str, int, int], quantities: tuple[int, ...] = (2,)) -> dict:
    """A paid order of the demo buyer for the demo merchant's new product (its SKUs: name, price, stock)."""
    product = await demo_product(stack, *(skus or (("Blue", 1000, 10),)), title=f"Mug {uuid.uuid4().hex[:4]}")
    items = [{"sku_id": sku["sku_id"], "quantity": q} for sku, q in zip(product["skus"], quantities, strict=False)]
    async with stack.client("orders", stack.demo.token(stack.infra, "buyer")) as buyer:
        paid = await pay_checkout(stack, buyer, items)
    return await order_as_buyer(stack, paid["orders"][0]["order_id"])


async def order_as_buyer(stack: Stack, order_id: str) -> dict:
    answer = await buyer_api(stack, "orders", "GET", f"/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def ship(stack: Stack, order_id: str, lines: list[dict] | None = None, tracking: str | None = None) -> dict:
    """The demo merchant ships units of the order through orders' API (all that is left without `lines`)."""
    body: dict[str, Any] = {"carrier": "sf-express", "tracking_number": tracking or f"SF{uuid.uuid4().hex[:10]}"}
    if lines is not None:
        body["lines"] = lines
    async with stack.client("orders", stack.demo.token(stack.infra, "merchant")) as seller:
        shipped = await seller.post(f"/seller/orders/{order_id}/shipments", json=body)
    assert shipped.status_code == 201, shipped.text
    return shipped.json()


async def opened_case(stack: Stack, order: dict, kind: str = "return_and_refund", quantity: int = 1) -> dict:
    """A case of the demo buyer on the order's first line, opened through aftersales' API once it has heard the
    units shipped."""
    body = {
        "order_id": order["order_id"],
        "kind": kind,
        "reason_code": "damaged",
        "description": "the handle came off",
        "lines": [{"line_no": 0, "quantity": quantity}],
    }

    async def opened() -> dict | None:
        answer = await buyer_api(
            stack, "aftersales", "POST", "/cases", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        return answer.json() if answer.status_code == 201 else None

    return await eventually(opened, timeout=20)


async def merchant_moves(stack: Stack, case_id: str, move: str, body: dict | None = None) -> dict:
    async with stack.client("aftersales", stack.demo.token(stack.infra, "merchant")) as seller:
        answer = await seller.post(f"/seller/cases/{case_id}/{move}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def text_of(html: str, testid: str) -> str:
    """The text of the element with this test id, as a person reads it (tags dropped, entities read)."""
    found = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(testid)}"[^>]*>(.*?)</\1>', html, re.S)
    assert found, f"no {testid} in the page"
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", "", found.group(2)))).strip()


async def post(client: httpx.AsyncClient, path: str, **fields: str) -> httpx.Response:
    return await client.post(path, data={"_csrf_token": csrf(client), **fields})


async def test_my_orders_by_status_and_an_order_with_its_timeline_and_tracking(stack: Stack) -> None:
    shipped_order = await paid_demo_order(stack)
    parcel = await ship(stack, shipped_order["order_id"], tracking=f"SF{uuid.uuid4().hex[:8]}")
    waiting = await paid_demo_order(stack)
    async with signed_in_as(stack, "buyer") as client:
        everything = await client.get("/orders")
        assert everything.status_code == 200
        for order in (shipped_order, waiting):
            assert f'data-testid="order-row-{order["order_id"]}"' in everything.text
        shipped = await client.get("/orders", params={"status": "shipped"})
        assert f'data-testid="order-row-{shipped_order["order_id"]}"' in shipped.text
        assert f'data-testid="order-row-{waiting["order_id"]}"' not in shipped.text
        assert 'aria-current="page" data-testid="filter-shipped"' in shipped.text

        page = await client.get(f"/orders/{shipped_order['order_id']}")
        assert page.status_code == 200
        assert text_of(page.text, "order-status") == "Shipped"
        assert text_of(page.text, "tracking-0") == parcel["tracking_number"]
        assert text_of(page.text, "order-total") == "$20.00"
        steps = re.findall(r'data-testid="step-([\w-]+)"', page.text)
        assert steps == ["placed", "paid", "shipped-0"]
        assert parcel["tracking_number"] in text_of(page.text, "step-shipped-0")
        assert 'data-testid="confirm-receipt"' in page.text
        assert 'data-testid="ask-after-sales"' in page.text
        assert 'data-testid="cancel-order"' not in page.text  # everything shipped: nothing to cancel

        # In Simplified Chinese once chosen.
        await post(client, "/language", language="zh_Hans", next=f"/orders/{shipped_order['order_id']}")
        chinese = await client.get(f"/orders/{shipped_order['order_id']}")
        assert text_of(chinese.text, "order-status") == "已发货"
        assert "包裹与物流" in chinese.text
        assert text_of(chinese.text, "ask-after-sales") == "申请售后"


async def test_orders_come_a_page_at_a_time(stack: Stack) -> None:
    product = await demo_product(stack, ("One", 300, 100))
    placed = set()
    for _ in range(22):  # unpaid checkouts: the quickest orders to make
        answer = await buyer_api(
            stack,
            "orders",
            "POST",
            "/checkout",
            json={"items": [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert answer.status_code == 201, answer.text
        placed.add(answer.json()["orders"][0]["order_id"])
    async with signed_in_as(stack, "buyer") as client:
        first = await client.get("/orders", params={"status": "awaiting_payment"})
        shown = set(re.findall(r'data-testid="order-row-([^"]+)"', first.text))
        assert len(shown) == 20
        older = re.search(r'href="(/orders\?[^"]+)" data-testid="older"', first.text)
        assert older, first.text
        second = await client.get(unescape(older.group(1)))
        assert second.status_code == 200
        rest = set(re.findall(r'data-testid="order-row-([^"]+)"', second.text))
        assert not shown & rest
        assert placed <= shown | rest
        assert 'aria-current="page" data-testid="filter-awaiting_payment"' in second.text  # the filter stays
        # A cursor that is not orders' is the first page, not an error.
        odd = await client.get("/orders", params={"cursor": "garbage"})
        assert odd.status_code == 200


async def test_receipt_is_confirmed_once_shipped_and_before_that_orders_refusal_is_shown(stack: Stack) -> None:
    order = await paid_demo_order(stack)
    path = f"/orders/{order['order_id']}/confirm-receipt"
    async with signed_in_as(stack, "buyer") as client:
        early = await post(client, path)
        assert early.status_code == 409, early.text
        assert 'data-testid="refusal"' in early.text  # orders' words: not shipped yet
        assert (await order_as_buyer(stack, order["order_id"]))["status"] == "paid"
        await ship(stack, order["order_id"])
        done = await post(client, path)
        assert done.status_code == 303
        assert done.headers["location"] == f"/orders/{order['order_id']}"
        page = await client.get(done.headers["location"])
        assert text_of(page.text, "order-status") == "Completed"
        assert 'data-testid="step-completed"' in page.text
    completed = await order_as_buyer(stack, order["order_id"])
    assert (completed["status"], completed["completed_by"]) == ("completed", "buyer")


async def test_a_paid_order_cancelled_is_refunded_and_a_partly_shipped_one_is_refused(stack: Stack) -> None:
    order = await paid_demo_order(stack)
    partly = await paid_demo_order(stack, quantities=(2,))
    await ship(stack, partly["order_id"], lines=[{"line_no": 0, "quantity": 1}])
    async with signed_in_as(stack, "buyer") as client:
        page = await client.get(f"/orders/{order['order_id']}")
        key = hidden(page.text, "idempotency_key")
        cancelled = await post(client, f"/orders/{order['order_id']}/cancel", idempotency_key=key)
        assert cancelled.status_code == 303, cancelled.text

        async def refunded() -> str | None:
            shown = await client.get(f"/orders/{order['order_id']}")
            return shown.text if 'data-testid="step-refund-paid"' in shown.text else None

        shown = await eventually(refunded, timeout=30, interval=0.5)
        assert text_of(shown, "order-status") == "Order cancelled"
        assert text_of(shown, "order-refunded") == "$20.00"
        assert 'data-testid="step-cancelled"' in shown

        # Partly shipped and not late: orders refuses, and the page says so in its words.
        refused = await post(client, f"/orders/{partly['order_id']}/cancel", idempotency_key=str(uuid.uuid4()))
        assert refused.status_code == 409
        assert text_of(refused.text, "refusal") == (
            "part of this order has shipped; what is left may be cancelled only once it is late"
        )
    after = await order_as_buyer(stack, order["order_id"])
    assert (after["status"], after["refunded_minor"]) == ("cancelled", 2000)
    assert (await order_as_buyer(stack, partly["order_id"]))["status"] == "partially_shipped"


async def test_the_after_sales_form_is_bounded_by_the_ledger_and_opens_one_case_per_key(stack: Stack) -> None:
    order = await paid_demo_order(stack, ("Blue", 1000, 10), quantities=(3,))
    await ship(stack, order["order_id"], lines=[{"line_no": 0, "quantity": 2}])

    async def aftersales_knows_the_shipment() -> bool:
        probe = {
            "order_id": order["order_id"],
            "kind": "refund_only",
            "reason_code": "other",
            "lines": [{"line_no": 0, "quantity": 3}],
        }
        answer = await buyer_api(
            stack, "aftersales", "POST", "/cases", json=probe, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        # 2 shipped units known: 3 is too many (nothing is opened)
        return answer.status_code == 422 and answer.json().get("refundable") == 2

    await eventually(aftersales_knows_the_shipment, timeout=20)
    async with signed_in_as(stack, "buyer") as client:
        form_page = await client.get(f"/orders/{order['order_id']}/cases/new")
        assert form_page.status_code == 200, form_page.text
        # The bound is orders' ledger: 2 shipped (the third is not shipped: it is cancelled, not a case's).
        assert 'max="2"' in form_page.text
        assert "(at most 2)" in form_page.text
        key = hidden(form_page.text, "idempotency_key")
        fields = {
            "idempotency_key": key,
            "kind": "return_and_refund",
            "reason_code": "damaged",
            "description": "the glaze is cracked",
            "evidence_urls": "https://img.example/crack.jpg\n",
            "line-0-quantity": "3",
        }
        too_many = await post(client, f"/orders/{order['order_id']}/cases", **fields)
        assert too_many.status_code == 422
        assert text_of(too_many.text, "error-line-0-quantity").startswith("only 2 unit(s) of this line")
        assert 'value="3"' in too_many.text  # what was typed stays
        nothing = await post(client, f"/orders/{order['order_id']}/cases", **(fields | {"line-0-quantity": "0"}))
        assert nothing.status_code == 422
        assert 'data-testid="error-lines"' in nothing.text

        opened = await post(client, f"/orders/{order['order_id']}/cases", **(fields | {"line-0-quantity": "2"}))
        assert opened.status_code == 303, opened.text
        case_id = opened.headers["location"].removeprefix("/cases/")
        # Sent again (a double click): the same case.
        again = await post(client, f"/orders/{order['order_id']}/cases", **(fields | {"line-0-quantity": "2"}))
        assert again.headers["location"] == opened.headers["location"]

        page = await client.get(f"/cases/{case_id}")
        assert page.status_code == 200
        assert text_of(page.text, "case-status") == "Requested"
        assert text_of(page.text, "next-action") == "The merchant's move"
        assert "UTC" in text_of(page.text, "case-deadline")
        assert text_of(page.text, "buyer-words") == "the glaze is cracked"
        order_page = await client.get(f"/orders/{order['order_id']}")
        assert f'data-testid="order-case-{case_id}"' in order_page.text
        assert 'data-testid="step-case"' in order_page.text
        listed = await client.get("/cases")
        assert f'data-testid="case-row-{case_id}"' in listed.text
    case = (await buyer_api(stack, "aftersales", "GET", f"/cases/{case_id}")).json()
    assert (case["kind"], case["reason_code"], case["evidence_urls"]) == (
        "return_and_refund",
        "damaged",
        ["https://img.example/crack.jpg"],
    )
    assert [(line["line_no"], line["quantity"]) for line in case["lines"]] == [(0, 2)]
    cases = (await buyer_api(stack, "aftersales", "GET", "/cases")).json()["items"]
    assert [c["case_id"] for c in cases if c["order_id"] == order["order_id"]] == [case_id]


async def test_the_buyer_sends_the_return_and_a_move_out_of_turn_is_refused_in_aftersales_words(
    stack: Stack,
) -> None:
    order = await paid_demo_order(stack)
    await ship(stack, order["order_id"])
    case = await opened_case(stack, order)
    case_id = case["case_id"]
    async with signed_in_as(stack, "buyer") as client:
        page = await client.get(f"/cases/{case_id}")
        assert 'data-testid="return-form"' not in page.text  # the merchant's move first
        early = await post(client, f"/cases/{case_id}/return-shipment", carrier="sf", tracking_number="SF1")
        assert early.status_code == 409
        assert text_of(early.text, "refusal") == "the case is requested: not now"

        await merchant_moves(stack, case_id, "approve")
        page = await client.get(f"/cases/{case_id}")
        assert text_of(page.text, "case-status") == "Awaiting return"
        assert 'data-testid="return-form"' in page.text
        blank = await post(client, f"/cases/{case_id}/return-shipment", carrier="sf", tracking_number=" ")
        assert blank.status_code == 422
        assert 'data-testid="error-tracking_number"' in blank.text
        sent = await post(client, f"/cases/{case_id}/return-shipment", carrier="sf", tracking_number="SF0042")
        assert sent.status_code == 303
        page = await client.get(f"/cases/{case_id}")
        assert text_of(page.text, "case-status") == "Return on its way"
        assert "SF0042" in text_of(page.text, "return-shipment")
        assert re.findall(r'data-testid="history-(\w+)"', page.text) == ["opened", "approved", "return_sent"]
        escalate = await post(client, f"/cases/{case_id}/escalate")
        assert escalate.status_code == 409
        assert text_of(escalate.text, "refusal") == "the case is return_in_transit: not now"
        withdrawn = await post(client, f"/cases/{case_id}/cancel")
        assert withdrawn.status_code == 303
    found = (await buyer_api(stack, "aftersales", "GET", f"/cases/{case_id}")).json()
    assert found["status"] == "cancelled"
    assert found["return_shipment"] == {"carrier": "sf", "tracking_number": "SF0042"}


async def test_someone_elses_order_and_case_are_404_other_roles_403_and_csrf_is_required(stack: Stack) -> None:
    product = await demo_product(stack, ("Only", 700, 5))
    stranger = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:8]}")
    async with stack.client("orders", stranger) as theirs:
        paid = await pay_checkout(stack, theirs, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1}])
    order_id = paid["orders"][0]["order_id"]
    await ship(stack, order_id)
    body = {
        "order_id": order_id,
        "kind": "refund_only",
        "reason_code": "other",
        "lines": [{"line_no": 0, "quantity": 1}],
    }

    async def their_case() -> dict | None:
        async with stack.client("aftersales", stranger) as client:
            answer = await client.post("/cases", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        return answer.json() if answer.status_code == 201 else None

    case_id = (await eventually(their_case, timeout=20))["case_id"]
    mine = await paid_demo_order(stack)
    async with signed_in_as(stack, "buyer") as client:
        for path in (
            f"/orders/{order_id}",
            f"/orders/{order_id}/cases/new",
            f"/orders/{order_id}/pay",
            f"/cases/{case_id}",
            "/orders/not-an-id",
        ):
            assert (await client.get(path)).status_code == 404, path
        for path in (f"/orders/{order_id}/cancel", f"/cases/{case_id}/cancel", f"/cases/{case_id}/no-such-move"):
            assert (await post(client, path, idempotency_key=str(uuid.uuid4()))).status_code == 404, path
        forged = await client.post(f"/orders/{mine['order_id']}/cancel", data={"idempotency_key": str(uuid.uuid4())})
        assert forged.status_code == 403
    async with signed_in_as(stack, "merchant") as client:
        for path in ("/orders", f"/orders/{mine['order_id']}", "/cases"):
            assert (await client.get(path)).status_code == 403, path
    assert (await order_as_buyer(stack, mine["order_id"]))["status"] == "paid"
    async with stack.client("aftersales", stranger) as client:
        assert (await client.get(f"/cases/{case_id}")).json()["status"] == "requested"
