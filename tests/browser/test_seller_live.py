"""The seller's live rooms in a real browser, as the demo merchant works them: a room scheduled for the demo host
and found in the list, and an ended room's review with its funnel chart, made from a real visit and a real sale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack, eventually
from tests.integration.live.support import add_when_known
from tests.integration.orders.support import pay_checkout

# Today calls live, orders and aftersales; the review's sale is shop's product bought through orders.
SERVICES = ("shop", "live", "orders", "aftersales", "web")


async def live_post(stack: Stack, path: str, role: str = "host", **body: object) -> dict:
    async with stack.client("live", stack.demo.token(stack.infra, role)) as live:
        response = await live.post(path, json=body or None)
    assert response.is_success, response.text
    return response.json()


async def test_merchant_schedules_a_room_for_the_demo_host_and_finds_it(stack: Stack, merchant: Page) -> None:
    await live_post(stack, "/rooms", title="First show")  # the demo host has hosted the merchant's rooms
    start = (datetime.now(UTC) + timedelta(days=2)).replace(hour=20, minute=30, second=0, microsecond=0)

    await sign_in(merchant, "merchant")
    await merchant.get_by_role("navigation").get_by_role("link", name="Live rooms").click()
    await expect(merchant.get_by_role("heading", level=1)).to_have_text("Live rooms")
    await merchant.get_by_label("Title").fill("Oolong masterclass")
    await merchant.get_by_label("Host (their user id)").fill("host-demo")
    await merchant.get_by_label("Start (UTC; leave blank to announce later)").fill(start.strftime("%Y-%m-%dT%H:%M"))
    await merchant.get_by_test_id("schedule-room").click()

    await expect(merchant.get_by_test_id("room-title")).to_have_text("Oolong masterclass")
    await expect(merchant.get_by_test_id("room-status")).to_have_text("Scheduled")
    room_id = merchant.url.rsplit("/", 1)[1]
    await merchant.get_by_role("link", name="← Live rooms").click()
    row = merchant.get_by_test_id("rooms-scheduled").get_by_test_id(f"room-row-{room_id}")
    await expect(row.locator("td").nth(0)).to_have_text("Oolong masterclass")
    await expect(row.locator("td").nth(1)).to_have_text("host-demo")
    await expect(row.locator("td").nth(2).locator("time")).to_have_text(start.strftime("%Y-%m-%d %H:%M UTC"))

    async with stack.client("live") as live:
        room = (await live.get(f"/rooms/{room_id}")).json()
    assert (room["host_id"], room["merchant_id"], room["status"]) == ("host-demo", stack.demo.merchant_id, "scheduled")
    assert datetime.fromisoformat(room["scheduled_start_at"]) == start


async def test_merchant_opens_an_ended_rooms_review_with_its_funnel_chart(stack: Stack, merchant: Page) -> None:
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        created = await shop.post(
            "/seller/products",
            json={"title": "Dancong oolong", "skus": [{"name": "50 g", "price_minor": 3200, "stock": 20}]},
        )
    assert created.status_code == 201, created.text
    product = created.json()
    room = await live_post(stack, "/rooms", title="Phoenix peaks")
    room_id = room["room_id"]
    await add_when_known(stack, stack.demo.token(stack.infra, "host"), room_id, product["product_id"])
    await live_post(stack, f"/rooms/{room_id}/start")
    buyer = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:8]}")
    async with stack.client("live", buyer) as live:
        assert (await live.post(f"/rooms/{room_id}/join")).status_code == 200
    async with stack.client("orders", buyer) as orders:
        await pay_checkout(stack, orders, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1, "room_id": room_id}])
    await live_post(stack, f"/rooms/{room_id}/end")

    async def reviewed() -> bool:  # the funnel folds the view and the payment from their events
        async with stack.client("live", stack.demo.token(stack.infra, "merchant")) as live:
            review = (await live.get(f"/rooms/{room_id}/review")).json()
        return review["funnel"]["views"] == 1 and review["funnel"]["paid_orders"] == 1

    await eventually(reviewed, timeout=30, interval=0.3)

    await sign_in(merchant, "merchant")
    await merchant.goto("/seller/rooms?status=ended")
    await merchant.get_by_role("link", name="Phoenix peaks").click()
    await expect(merchant.get_by_test_id("room-status")).to_have_text("Ended")
    await expect(merchant.get_by_test_id("stat-viewers")).to_have_text("1")
    chart = merchant.get_by_role("img", name="Conversion funnel")
    await expect(chart).to_be_visible()
    await expect(chart.locator("[data-step='views']")).to_have_attribute("data-value", "1")
    await expect(chart.locator("[data-step='paid_orders']")).to_have_attribute("data-value", "1")
    await expect(merchant.get_by_role("img", name="Funnel per minute")).to_be_visible()
    await expect(merchant.get_by_test_id("review-gross-USD")).to_have_text("$32.00")
    await expect(merchant.get_by_test_id("top-products")).to_contain_text("Dancong oolong")
