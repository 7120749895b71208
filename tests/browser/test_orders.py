"""Flows 4 and 5 of issue 12 in a real browser, each person in their own context: the buyer pays a checkout with the
test card and sees it paid, the merchant ships it from the orders page, the buyer reads the tracking; the buyer asks
to return, the merchant approves, the buyer sends the parcel back, the merchant confirms receipt, and the refund shows
on both sides; and an operator rules an escalated case."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack, eventually
from tests.integration.web.test_checkout_pages import buyer_api, demo_product
from tests.integration.web.test_operator_pages import escalated_case, operator_case
from tests.integration.web.test_order_pages import paid_demo_order, ship

SERVICES = ("shop", "orders", "aftersales", "web")
SETTINGS = {"checkout_burst": 1000, "max_unpaid_checkouts": 1000}
# Stripe's webhook and the refund job answer asynchronously: the pages that show them get a little longer.
MONEY_MS = 20_000

if TYPE_CHECKING:
    from tests.browser.conftest import People


async def aftersales_knows(stack: Stack, order_id: str, shipped: int) -> None:
    """Wait until aftersales has heard that `shipped` units of the order's first line shipped (a case asking for one
    more is refused naming that many; nothing is opened)."""

    async def known() -> bool:
        probe = {
            "order_id": order_id,
            "kind": "refund_only",
            "reason_code": "other",
            "lines": [{"line_no": 0, "quantity": shipped + 1}],
        }
        answer = await buyer_api(
            stack, "aftersales", "POST", "/cases", json=probe, headers={"Idempotency-Key": str(uuid.uuid4())}
        )
        return answer.status_code == 422 and answer.json().get("refundable") == shipped

    await eventually(known, timeout=20)


async def test_buyer_pays_with_the_test_card_merchant_ships_and_buyer_reads_the_tracking(
    stack: Stack, buyer: Page, merchant: Page
) -> None:
    product = await demo_product(stack, ("250 g tin", 3200, 10), title="Tieguanyin 铁观音")
    placed = await buyer_api(
        stack,
        "orders",
        "POST",
        "/checkout",
        json={"items": [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 201, placed.text
    checkout_id, order_id = placed.json()["checkout_id"], placed.json()["orders"][0]["order_id"]
    tracking = f"SF{uuid.uuid4().hex[:10].upper()}"

    await sign_in(buyer, "buyer")
    await buyer.goto(f"/checkouts/{checkout_id}")
    await expect(buyer.get_by_role("heading", level=1)).to_have_text("Checkout")
    await expect(buyer.get_by_test_id("checkout-total")).to_have_text("$32.00")
    await buyer.get_by_label("Test card").select_option("pm_card_visa")
    await buyer.get_by_test_id("pay").click()
    # The panel polls itself until Stripe's webhook has reached orders.
    await expect(buyer.get_by_test_id("payment-state")).to_have_text("Paid. Thank you!", timeout=MONEY_MS)
    await buyer.get_by_test_id(f"paid-order-{order_id}").click()
    await expect(buyer.get_by_test_id("order-status")).to_have_text("Paid, to ship")

    await sign_in(merchant, "merchant")
    await merchant.get_by_role("navigation").get_by_role("link", name="Orders").click()
    await merchant.get_by_test_id(f"open-order-{order_id}").click()
    await expect(merchant.get_by_test_id("order-status")).to_have_text("Paid, to ship")
    await expect(merchant.get_by_test_id("line-0-quantity")).to_have_value("1")  # what is left to ship
    await merchant.get_by_label("Carrier").fill("SF Express")
    await merchant.get_by_label("Tracking number").fill(tracking)
    await merchant.get_by_test_id("ship").click()
    await expect(merchant.get_by_test_id("order-status")).to_have_text("Shipped")
    await expect(merchant.get_by_test_id("tracking-0")).to_have_text(tracking)

    await buyer.reload()
    await expect(buyer.get_by_test_id("order-status")).to_have_text("Shipped")
    await expect(buyer.get_by_test_id("tracking-0")).to_have_text(tracking)
    await expect(buyer.get_by_test_id("step-shipped-0")).to_contain_text(tracking)
    shipped = (await buyer_api(stack, "orders", "GET", f"/orders/{order_id}")).json()
    assert [(s["carrier"], s["tracking_number"]) for s in shipped["shipments"]] == [("SF Express", tracking)]


async def test_a_return_is_asked_approved_sent_received_and_refunded_on_both_sides(
    stack: Stack, buyer: Page, merchant: Page
) -> None:
    order = await paid_demo_order(stack, ("Glazed", 2800, 10), quantities=(1,))
    order_id = order["order_id"]
    await ship(stack, order_id)
    await aftersales_knows(stack, order_id, 1)

    await sign_in(buyer, "buyer")
    await buyer.goto(f"/orders/{order_id}")
    await buyer.get_by_test_id("ask-after-sales").click()
    await buyer.get_by_label("Return and refund").check()
    await buyer.get_by_label("Reason").select_option("damaged")
    await expect(buyer.get_by_test_id("line-0-quantity")).to_have_value("1")
    await buyer.get_by_label("What happened").fill("The lid arrived chipped")
    await buyer.get_by_test_id("open-case").click()
    await expect(buyer.get_by_test_id("case-status")).to_have_text("Requested")
    case_id = buyer.url.rsplit("/", 1)[-1]

    await sign_in(merchant, "merchant")
    await merchant.get_by_role("navigation").get_by_role("link", name="After-sales").click()
    await merchant.get_by_test_id(f"open-case-{case_id}").click()
    await expect(merchant.get_by_test_id("buyer-words")).to_have_text("The lid arrived chipped")
    await merchant.get_by_test_id("approve").click()
    await expect(merchant.get_by_test_id("case-status")).to_have_text("Awaiting return")

    await buyer.reload()
    await buyer.get_by_label("Carrier").fill("SF Express")
    await buyer.get_by_label("Tracking number").fill("SF-RETURN-1")
    await buyer.get_by_test_id("send-return").click()
    await expect(buyer.get_by_test_id("case-status")).to_have_text("Return on its way")

    await merchant.reload()
    await expect(merchant.get_by_test_id("return-shipment")).to_contain_text("SF-RETURN-1")
    await expect(merchant.get_by_test_id("line-0-restockable")).to_have_value("1")
    await merchant.get_by_test_id("confirm-receipt").click()
    await expect(merchant.get_by_test_id("case-status")).to_have_text(re.compile("Refunding|Refund paid"))

    async def refunded() -> bool:  # orders' refund job reaches Stripe, then aftersales hears of it
        case = (await buyer_api(stack, "aftersales", "GET", f"/cases/{case_id}")).json()
        return case["status"] == "refunded"

    await eventually(refunded, timeout=30, interval=0.5)
    for page in (buyer, merchant):
        await page.reload()
        await expect(page.get_by_test_id("case-status")).to_have_text("Refund paid")
        await expect(page.get_by_test_id("case-refund")).to_contain_text("$28.00")
        await page.get_by_test_id("case-order").click()
        await expect(page.get_by_test_id("order-refunded")).to_have_text("$28.00")
        await expect(page.get_by_test_id("step-refund-paid")).to_contain_text("$28.00")


async def test_an_operator_rules_an_escalated_case_for_the_buyer(stack: Stack, people: People) -> None:
    case = await escalated_case(stack)
    operator = await people.open("operator")
    await sign_in(operator, "operator")
    await expect(operator.get_by_role("heading", level=1)).to_have_text("Disputes")
    await operator.get_by_test_id(f"open-case-{case['case_id']}").click()
    await expect(operator.get_by_test_id("reject-reason")).to_contain_text("it was sent whole")
    await operator.get_by_label("The buyer (the case goes on to its refund or return)").check()
    await operator.get_by_label("Note to both sides").fill("The photos show the damage")
    await operator.get_by_test_id("decide").click()
    await expect(operator.get_by_test_id("case-status")).to_have_text(re.compile("Refunding|Refund paid"))
    await expect(operator.get_by_test_id("decision")).to_have_text("Ruled for the buyer: The photos show the damage")
    ruled = await operator_case(stack, case["case_id"])
    assert (ruled["decision"], ruled["decision_note"]) == ("buyer", "The photos show the damage")
