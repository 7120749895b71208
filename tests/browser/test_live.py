"""The live pages in a real browser, each person in their own context: the demo host opens a room, goes live, puts a
product in the bag, pins it and starts a flash sale (flow 2); a buyer who opened the room page before the sale
started sees it arrive without reloading, buys, and sees the outcome, while the host's console shows the stock left
drop without reloading (flow 3)."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.conftest import People
from tests.browser.support import sign_in
from tests.harness import Stack
from tests.integration.web.test_host_console import demo_product, live_api

# Purchases need no orders to answer (the order is made from live's event); the pay page is another test's.
SERVICES = ("shop", "live", "web")
# Set on `window` once a page is open: still there at the end means the page never reloaded or navigated.
MARK = "window.__liveloopStayed = true"
STAYED = "window.__liveloopStayed === true"


async def add_to_bag(host: Page, product_id: str) -> None:
    """Choose the product and add it; until live's catalogue has it (shop's event on its way) live says so: again."""
    entry = host.get_by_test_id(f"bag-{product_id}")
    for _attempt in range(20):
        await host.get_by_label("Add a product").select_option(product_id)
        await host.get_by_test_id("add-to-bag").click()
        refusal = host.get_by_test_id("bag-refusal")
        await expect(entry.or_(refusal)).to_be_visible()
        if await entry.is_visible():
            return
        await expect(refusal).to_contain_text("live has not seen this product yet")
    raise AssertionError("live never learnt of the product")


async def test_a_host_starts_a_flash_sale_that_a_watching_buyer_buys_without_reloading(
    stack: Stack, people: People, host: Page
) -> None:
    # The buyer watches on a phone.
    buyer = await people.open("buyer", viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    product = await demo_product(stack, ("Jade green", 5900, 3), title="Silk qipao 旗袍")
    sku_id = product["skus"][0]["sku_id"]

    # Flow 2: the host's room, live, with the product in the bag, pinned.
    await sign_in(host, "host")
    await expect(host.get_by_role("heading", level=1)).to_have_text("Your rooms")
    await host.get_by_label("Title").fill("Qipao night")
    await host.get_by_test_id("create-room").click()
    await expect(host.get_by_test_id("room-title")).to_have_text("Qipao night")
    room_id = host.url.rstrip("/").rsplit("/", 1)[1]
    await host.evaluate(MARK)
    await host.get_by_test_id("go-live").click()
    await expect(host.get_by_test_id("room-status")).to_have_text("Live")
    await add_to_bag(host, product["product_id"])
    await host.get_by_test_id(f"pin-{product['product_id']}").click()
    await expect(host.get_by_test_id(f"pinned-{product['product_id']}")).to_be_visible()

    # Flow 3 begins: the buyer opens the room before any sale, and is counted watching on the host's console.
    await sign_in(buyer, "buyer")
    await buyer.goto(f"/rooms/{room_id}")
    await expect(buyer.get_by_test_id("room-title")).to_have_text("Qipao night")
    await expect(buyer.get_by_test_id("pinned-title")).to_have_text("Silk qipao 旗袍")
    await expect(buyer.get_by_test_id("no-sales")).to_be_visible()
    await buyer.evaluate(MARK)
    await expect(host.get_by_test_id("viewers")).to_have_text("1")

    # The host starts the flash sale: 3 units at 19.90, one per buyer.
    await expect(host.locator(f'#sale-sku_id option[value="{sku_id}"]')).to_have_count(1)
    await host.get_by_label("SKU", exact=True).select_option(sku_id)
    await host.get_by_label("Units for the sale").fill("3")
    await host.get_by_label("Sale price").fill("19.90")
    await host.get_by_test_id("start-sale").click()
    await expect(host.get_by_test_id("sale-note")).to_have_text("Flash sale started")
    (sale,) = (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales")).json()["items"]
    sale_id = sale["sale_id"]
    await expect(host.get_by_test_id(f"sale-remaining-{sale_id}")).to_have_text("3")

    # The buyer's page shows it by itself, ticking down, and the buyer buys.
    buy = buyer.get_by_test_id(f"buy-{sale_id}")
    await expect(buy).to_be_enabled()
    await expect(buy).to_have_text("Buy now")
    await expect(buyer.get_by_test_id("no-sales")).to_be_hidden()
    clock = buyer.get_by_test_id(f"countdown-{sale_id}")
    await expect(clock).to_have_text(re.compile(r"^(09:[0-5]\d|10:00)$"))
    await expect(clock).not_to_have_text(await clock.inner_text())  # it ticks
    await buy.tap()
    await expect(buyer.get_by_test_id("purchase-admitted")).to_contain_text("Pay by")
    await expect(buyer.get_by_test_id("pay-link")).to_have_attribute("href", re.compile(r"^/orders/[0-9a-f-]{36}/pay$"))
    await expect(buyer.get_by_test_id(f"sale-remaining-{sale_id}")).to_have_text("2")
    # Once more (a fresh key came back with the outcome): one per buyer, refused in live's words, in place.
    await buy.tap()
    await expect(buyer.get_by_test_id("purchase-refusal")).to_have_text("a buyer may buy at most 1 in this flash sale")

    # The host's console shows the stock left drop, live.
    await expect(host.get_by_test_id(f"sale-remaining-{sale_id}")).to_have_text("2")
    assert (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales/{sale_id}")).json()["remaining"] == 2

    # The host asks for more units than are left: live's refusal by the field, what was typed kept.
    await host.get_by_label("SKU", exact=True).select_option(sku_id)
    await host.get_by_label("Units for the sale").fill("5")
    await host.get_by_label("Sale price").fill("19.90")
    await host.get_by_test_id("start-sale").click()
    await expect(host.get_by_test_id("sale-error-quantity")).to_have_text("only 0 of this SKU are available")
    await expect(host.get_by_label("Units for the sale")).to_have_value("5")

    # Neither page ever reloaded.
    assert await buyer.evaluate(STAYED)
    assert await host.evaluate(STAYED)
