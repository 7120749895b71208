"""The merchant's orders and after-sales queue through the web app, against real services: orders by status, the ship
form defaulting to what is left to ship, parcels sent and delivered, orders' refusals by the field they name; the
queue soonest deadline first, approve, reject with a reason, receipt confirmed (restockable units) or refused, a
replacement shipped, the refund shown on both pages; another merchant's order or case 404, another role 403, CSRF."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.harness import Stack, eventually, onboard_merchant
from tests.integration.orders.support import pay_checkout
from tests.integration.web.support import hidden, signed_in_as
from tests.integration.web.test_checkout_pages import buyer_api
from tests.integration.web.test_order_pages import opened_case, paid_demo_order, post, ship, text_of

SERVICES = ("shop", "orders", "aftersales", "web")
SETTINGS = {"checkout_burst": 1000, "max_unpaid_checkouts": 1000}
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def seller_api(stack: Stack, service: str, path: str) -> dict:
    async with stack.client(service, stack.demo.token(stack.infra, "merchant")) as client:
        answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def buyer_moves(stack: Stack, case_id: str, move: str, body: dict | None = None) -> dict:
    answer = await buyer_api(stack, "aftersales", "POST", f"/cases/{case_id}/{move}", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_orders_by_status_and_parcels_shipped_from_the_form_and_delivered(stack: Stack) -> None:
    order = await paid_demo_order(stack, ("Red", 1000, 10), ("Green", 1500, 10), quantities=(3, 1))
    order_id = order["order_id"]
    async with signed_in_as(stack, "merchant") as client:
        listed = await client.get("/seller/orders", params={"status": "paid"})
        assert f'data-testid="order-row-{order_id}"' in listed.text
        assert f'data-testid="order-row-{order_id}"' not in (await client.get("/seller/orders?status=shipped")).text

        page = await client.get(f"/seller/orders/{order_id}")
        assert page.status_code == 200
        # The form's quantities default to what is left to ship (orders' ledger).
        assert re.search(r'id="line-0-quantity"[^>]*value="3"', page.text)
        assert re.search(r'id="line-1-quantity"[^>]*value="1"', page.text)
        tracking = f"YT{uuid.uuid4().hex[:10]}"
        fields = {
            "idempotency_key": hidden(page.text, "idempotency_key"),
            "carrier": "yto",
            "tracking_number": tracking,
        }
        sent = await post(client, f"/seller/orders/{order_id}/shipments", **fields, **{"line-0-quantity": "2"})
        assert sent.status_code == 303, sent.text
        # The same form again (a double click): orders replays the key, one parcel.
        again = await post(client, f"/seller/orders/{order_id}/shipments", **fields, **{"line-0-quantity": "2"})
        assert again.status_code == 303

        page = await client.get(f"/seller/orders/{order_id}")
        assert text_of(page.text, "order-status") == "Partly shipped"
        assert re.search(r'id="line-0-quantity"[^>]*value="1"', page.text)
        rest = {"idempotency_key": hidden(page.text, "idempotency_key"), "carrier": "yto"}
        used = await post(
            client, f"/seller/orders/{order_id}/shipments", **rest, tracking_number=tracking, **{"line-0-quantity": "1"}
        )
        assert used.status_code == 409
        assert (
            text_of(used.text, "error-tracking_number")
            == f"yto tracking number {tracking} is already used by a shipment"
        )
        too_many = await post(
            client, f"/seller/orders/{order_id}/shipments", **rest, tracking_number="YT-2", **{"line-0-quantity": "5"}
        )
        assert too_many.status_code == 422
        assert text_of(too_many.text, "error-line-0-quantity") == "line 0 has 1 units left to ship, not 5"
        assert re.search(r'id="line-0-quantity"[^>]*value="5"', too_many.text)  # as typed
        blank = await post(client, f"/seller/orders/{order_id}/shipments", **rest, tracking_number="")
        assert blank.status_code == 422
        assert 'data-testid="error-tracking_number"' in blank.text

        second = f"YT{uuid.uuid4().hex[:10]}"
        done = await post(
            client,
            f"/seller/orders/{order_id}/shipments",
            **rest,
            tracking_number=second,
            **{"line-0-quantity": "1", "line-1-quantity": "1"},
        )
        assert done.status_code == 303, done.text
        page = await client.get(f"/seller/orders/{order_id}")
        assert text_of(page.text, "order-status") == "Shipped"
        assert 'data-testid="ship-form"' not in page.text
        for shipment in (await seller_api(stack, "orders", f"/seller/orders/{order_id}/shipments"))["items"]:
            delivered = await post(client, f"/seller/orders/{order_id}/shipments/{shipment['shipment_id']}/delivered")
            assert delivered.status_code == 303
        page = await client.get(f"/seller/orders/{order_id}")
        assert text_of(page.text, "order-status") == "Delivered"
        assert re.findall(r'data-testid="step-([\w-]+)"', page.text) == [
            "placed",
            "paid",
            "shipped-0",
            "shipped-1",
            "delivered-0",
            "delivered-1",
        ]
    found = await seller_api(stack, "orders", f"/seller/orders/{order_id}")
    assert found["status"] == "delivered"
    assert [
        (s["tracking_number"], [(ln["line_no"], ln["quantity"]) for ln in s["lines"]]) for s in found["shipments"]
    ] == [
        (tracking, [(0, 2)]),
        (second, [(0, 1), (1, 1)]),
    ]


async def test_a_return_approved_received_and_refunded_shows_on_both_sides(stack: Stack) -> None:
    order = await paid_demo_order(stack, quantities=(2,))
    await ship(stack, order["order_id"])
    case = await opened_case(stack, order, "return_and_refund", quantity=2)
    case_id = case["case_id"]
    async with signed_in_as(stack, "merchant") as client:
        queue = await client.get("/seller/cases", params={"status": "requested"})
        assert f'data-testid="case-row-{case_id}"' in queue.text
        page = await client.get(f"/seller/cases/{case_id}")
        assert text_of(page.text, "buyer-words") == "the handle came off"
        approved = await post(client, f"/seller/cases/{case_id}/approve")
        assert approved.status_code == 303
        again = await post(client, f"/seller/cases/{case_id}/approve")
        assert again.status_code == 409
        assert text_of(again.text, "refusal") == "the case is awaiting_return: not now"

        await buyer_moves(stack, case_id, "return-shipment", {"carrier": "sf", "tracking_number": "SF-RET-1"})
        page = await client.get(f"/seller/cases/{case_id}")
        assert 'data-testid="receipt-form"' in page.text
        assert re.search(r'id="line-0-restockable"[^>]*value="2"', page.text)
        over = await post(client, f"/seller/cases/{case_id}/confirm-receipt", **{"line-0-restockable": "3"})
        assert over.status_code == 422
        assert 'data-testid="error-line-0-restockable"' in over.text
        received = await post(client, f"/seller/cases/{case_id}/confirm-receipt", **{"line-0-restockable": "1"})
        assert received.status_code == 303, received.text

        async def refunded_on_the_order() -> str | None:
            shown = await client.get(f"/seller/orders/{order['order_id']}")
            return shown.text if 'data-testid="step-refund-paid"' in shown.text else None

        order_page = await eventually(refunded_on_the_order, timeout=30, interval=0.5)
        assert text_of(order_page, "order-refunded") == "$20.00"

        # After-sales hears of the paid refund from orders' event: a moment after the order page shows it.
        async def refund_paid_on_the_case() -> str | None:
            shown = await client.get(f"/seller/cases/{case_id}")
            return shown.text if text_of(shown.text, "case-status") == "Refund paid" else None

        case_page = await eventually(refund_paid_on_the_case, timeout=30, interval=0.5)
        assert text_of(case_page, "case-refund").startswith("$20.00")
    async with signed_in_as(stack, "buyer") as client:
        mine = await client.get(f"/cases/{case_id}")
        assert text_of(mine.text, "case-refund").startswith("$20.00")
    found = await seller_api(stack, "aftersales", f"/seller/cases/{case_id}")
    assert (found["status"], [line["restockable"] for line in found["lines"]]) == ("refunded", [1])


async def test_a_rejection_needs_a_reason_and_a_refused_receipt_says_why(stack: Stack) -> None:
    order = await paid_demo_order(stack, quantities=(2,))
    await ship(stack, order["order_id"])
    rejected_case = await opened_case(stack, order, "refund_only")
    refused_case = await opened_case(stack, order, "return_and_refund")
    async with signed_in_as(stack, "merchant") as client:
        blank = await post(client, f"/seller/cases/{rejected_case['case_id']}/reject", reason="  ")
        assert blank.status_code == 422
        assert 'data-testid="error-reason"' in blank.text
        done = await post(client, f"/seller/cases/{rejected_case['case_id']}/reject", reason="it was fine when sent")
        assert done.status_code == 303

        await post(client, f"/seller/cases/{refused_case['case_id']}/approve")
        await buyer_moves(stack, refused_case["case_id"], "return-shipment", {"carrier": "sf", "tracking_number": "X1"})
        refused = await post(client, f"/seller/cases/{refused_case['case_id']}/refuse-receipt", reason="box was empty")
        assert refused.status_code == 303
        page = await client.get(f"/seller/cases/{refused_case['case_id']}")
        assert text_of(page.text, "refuse-reason") == "Receipt refused: box was empty"
        assert text_of(page.text, "next-action") == "The buyer's move"
        assert "moves" not in re.findall(r'class="(moves)"', page.text)  # no move of the merchant's left
    first = await seller_api(stack, "aftersales", f"/seller/cases/{rejected_case['case_id']}")
    assert (first["status"], first["reject_reason"]) == ("rejected", "it was fine when sent")
    second = await seller_api(stack, "aftersales", f"/seller/cases/{refused_case['case_id']}")
    assert (second["status"], second["refuse_reason"]) == ("receipt_refused", "box was empty")


async def test_an_exchange_is_received_and_its_replacement_shipped(stack: Stack) -> None:
    order = await paid_demo_order(stack, ("S", 1000, 10), ("M", 1000, 10), quantities=(1,))
    await ship(stack, order["order_id"])
    async with signed_in_as(stack, "buyer") as client:

        async def form_ready() -> str | None:
            shown = await client.get(f"/orders/{order['order_id']}/cases/new")
            return shown.text if 'id="line-0-replacement"' in shown.text else None

        form_page = await eventually(form_ready)
        product = (await buyer_api(stack, "shop", "GET", f"/products/{order['lines'][0]['product_id']}")).json()
        medium = next(s["sku_id"] for s in product["skus"] if s["name"] == "M")
        fields = {
            "idempotency_key": hidden(form_page, "idempotency_key"),
            "kind": "exchange",
            "reason_code": "wrong_item",
            "line-0-quantity": "1",
            "line-0-replacement": medium,
        }

        async def opened() -> str | None:  # aftersales hears of the shipment a moment after orders
            answer = await post(client, f"/orders/{order['order_id']}/cases", **fields)
            return answer.headers["location"].removeprefix("/cases/") if answer.status_code == 303 else None

        case_id = await eventually(opened, timeout=20)
        assert "M" in text_of((await client.get(f"/cases/{case_id}")).text, "case-line-0")
    async with signed_in_as(stack, "merchant") as client:
        await post(client, f"/seller/cases/{case_id}/approve")
        await buyer_moves(stack, case_id, "return-shipment", {"carrier": "sf", "tracking_number": "EX-1"})
        await post(client, f"/seller/cases/{case_id}/confirm-receipt", **{"line-0-restockable": "1"})
        page = await client.get(f"/seller/cases/{case_id}")
        assert text_of(page.text, "case-status") == "Replacement to ship"
        shipped = await post(client, f"/seller/cases/{case_id}/ship-replacement", carrier="sf", tracking_number="EX-2")
        assert shipped.status_code == 303
        page = await client.get(f"/seller/cases/{case_id}")
        assert text_of(page.text, "case-status") == "Exchanged"
        assert "EX-2" in text_of(page.text, "replacement-shipment")
    found = await seller_api(stack, "aftersales", f"/seller/cases/{case_id}")
    assert (found["status"], found["lines"][0]["replacement_sku_id"]) == ("exchanged", medium)


async def test_another_merchants_order_and_case_are_404_other_roles_403_and_csrf_is_required(stack: Stack) -> None:
    _, other = await onboard_merchant(stack)
    async with stack.client("shop", other) as shop:
        created = await shop.post(
            "/seller/products", json={"title": "Not yours", "skus": [{"name": "One", "price_minor": 800, "stock": 5}]}
        )
    buyer = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:8]}")
    async with stack.client("orders", buyer) as client:
        paid = await pay_checkout(stack, client, [{"sku_id": created.json()["skus"][0]["sku_id"], "quantity": 1}])
    order_id = paid["orders"][0]["order_id"]
    async with stack.client("orders", other) as seller:
        await seller.post(f"/seller/orders/{order_id}/shipments", json={"carrier": "x", "tracking_number": order_id})
    body = {
        "order_id": order_id,
        "kind": "refund_only",
        "reason_code": "other",
        "lines": [{"line_no": 0, "quantity": 1}],
    }

    async def their_case() -> str | None:
        async with stack.client("aftersales", buyer) as client:
            answer = await client.post("/cases", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
        return answer.json()["case_id"] if answer.status_code == 201 else None

    their_case_id = await eventually(their_case, timeout=20)
    mine = await paid_demo_order(stack)
    await ship(stack, mine["order_id"])
    case = await opened_case(stack, mine, "refund_only")
    async with signed_in_as(stack, "merchant") as client:
        assert (await client.get(f"/seller/orders/{order_id}")).status_code == 404
        assert (await client.get(f"/seller/cases/{their_case_id}")).status_code == 404
        assert (await post(client, f"/seller/cases/{their_case_id}/approve")).status_code == 404
        refused = await post(
            client, f"/seller/orders/{order_id}/shipments", carrier="x", tracking_number="y", **{"line-0-quantity": "1"}
        )
        assert refused.status_code == 404
        forged = await client.post(f"/seller/cases/{case['case_id']}/approve")
        assert forged.status_code == 403
        assert (await post(client, f"/seller/cases/{case['case_id']}/no-such-move")).status_code == 404
    async with signed_in_as(stack, "buyer") as client:
        for path in ("/seller/orders", f"/seller/orders/{mine['order_id']}", "/seller/cases"):
            assert (await client.get(path)).status_code == 403, path
        assert (await post(client, f"/seller/cases/{case['case_id']}/approve")).status_code == 403
    async with stack.client("aftersales", buyer) as client:
        assert (await client.get(f"/cases/{their_case_id}")).json()["status"] == "requested"
    assert (await seller_api(stack, "aftersales", f"/seller/cases/{case['case_id']}"))["status"] == "requested"
