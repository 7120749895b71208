"""The seller back office in a real browser, as the demo merchant works in it: the catalogue and Today."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack, eventually
from tests.integration.orders.support import pay_checkout

# Today calls live (takings), orders (to ship) and aftersales (cases); products are shop's.
SERVICES = ("shop", "live", "orders", "aftersales", "web")


async def test_merchant_adds_a_product_with_two_skus_and_sees_its_stock(stack: Stack, merchant: Page) -> None:
    await sign_in(merchant, "merchant")
    await expect(merchant.get_by_role("heading", level=1)).to_have_text("Today")

    await merchant.get_by_role("navigation").get_by_role("link", name="Products").click()
    await merchant.get_by_test_id("new-product").click()
    await merchant.get_by_label("Title").fill("Tieguanyin oolong 铁观音")
    await merchant.get_by_label("Description").fill("Roasted, from Anxi")
    for n, (name, price, stock) in enumerate((("50 g tin", "12.50", "30"), ("100 g tin", "22", "12")), start=1):
        await merchant.get_by_label(f"SKU {n} name").fill(name)
        await merchant.get_by_label(f"SKU {n} price").fill(price)
        await merchant.get_by_label(f"SKU {n} stock").fill(stock)
    await merchant.get_by_test_id("create-product").click()

    # The product's own page: each SKU with its price and stock.
    await expect(merchant.get_by_test_id("product-title")).to_have_text("Tieguanyin oolong 铁观音")
    product_id = await merchant.get_by_test_id("product-id").inner_text()
    await expect(merchant).to_have_url(f"/seller/products/{product_id}")
    skus = merchant.get_by_test_id("skus").locator("tbody tr")
    await expect(skus).to_have_count(2)
    await expect(skus.nth(0)).to_contain_text("50 g tin")
    await expect(skus.nth(0)).to_contain_text("$12.50")
    await expect(skus.nth(1)).to_contain_text("100 g tin")
    await expect(skus.nth(1)).to_contain_text("$22.00")

    # The list: the product with its two SKUs, both prices and what it can sell.
    await merchant.get_by_role("navigation").get_by_role("link", name="Products").click()
    row = merchant.get_by_test_id(f"product-row-{product_id}")
    await expect(row.locator("td")).to_have_text(["Tieguanyin oolong 铁观音", "2", "$12.50, $22.00", "42", "published"])

    # Shop has it, exactly as the form said (its API, as the merchant's token reads it).
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        found = await shop.get(f"/seller/products/{product_id}")
    assert found.status_code == 200, found.text
    product = found.json()
    assert product["merchant_id"] == stack.demo.merchant_id
    assert (product["title"], product["description"], product["status"]) == (
        "Tieguanyin oolong 铁观音",
        "Roasted, from Anxi",
        "published",
    )
    assert sorted((s["name"], s["price_minor"], s["currency"], s["stock_on_hand"]) for s in product["skus"]) == [
        ("100 g tin", 2200, "USD", 12),
        ("50 g tin", 1250, "USD", 30),
    ]


async def test_merchant_adjusts_a_skus_stock_from_its_product_page(stack: Stack, merchant: Page) -> None:
    await sign_in(merchant, "merchant")
    await merchant.goto("/seller/products/new")
    await merchant.get_by_label("Title").fill("Jasmine pearls")
    await merchant.get_by_label("SKU 1 name").fill("25 g")
    await merchant.get_by_label("SKU 1 price").fill("9.90")
    await merchant.get_by_label("SKU 1 stock").fill("5")
    await merchant.get_by_test_id("create-product").click()
    product_id = await merchant.get_by_test_id("product-id").inner_text()
    sku_id = re.sub(
        "^sku-", "", await merchant.get_by_test_id("skus").locator("tbody tr").first.get_attribute("data-testid") or ""
    )

    await merchant.get_by_label("New stock on hand for 25 g").fill("17")
    await merchant.get_by_test_id(f"save-stock-{sku_id}").click()

    await expect(merchant.get_by_test_id(f"stock-on-hand-{sku_id}")).to_have_text("17")
    await expect(merchant.get_by_test_id(f"stock-available-{sku_id}")).to_have_text("17")
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        found = (await shop.get(f"/seller/products/{product_id}")).json()
    assert [s["stock_on_hand"] for s in found["skus"]] == [17]


async def test_today_shows_an_order_to_ship_and_the_takings_once_a_buyer_has_paid(stack: Stack, merchant: Page) -> None:
    merchant_token = stack.demo.token(stack.infra, "merchant")
    async with stack.client("shop", merchant_token) as shop:
        created = await shop.post(
            "/seller/products",
            json={
                "title": "Gaiwan",
                "skus": [
                    {"name": "White", "price_minor": 1500, "currency": "USD", "stock": 10},
                    {"name": "Celadon", "price_minor": 1700, "currency": "USD", "stock": 10},
                ],
            },
        )
    assert created.status_code == 201, created.text
    white, celadon = (sku["sku_id"] for sku in created.json()["skus"])
    buyer_token = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
    async with stack.client("orders", buyer_token) as buyer:
        paid = await pay_checkout(stack, buyer, [{"sku_id": white, "quantity": 2}, {"sku_id": celadon, "quantity": 1}])
    order_id = paid["orders"][0]["order_id"]

    await sign_in(merchant, "merchant")

    row = merchant.get_by_test_id(f"to-ship-{order_id}")
    await expect(row.locator("td")).to_have_count(4)
    await expect(row.locator("td").nth(0)).to_have_text(order_id[:8])
    await expect(row.locator("td").nth(1)).to_have_text("3")
    await expect(row.locator("td").nth(2)).to_have_text("$47.00")
    async with stack.client("orders", merchant_token) as orders:
        to_ship = (await orders.get("/seller/orders/to-ship")).json()["items"]
    ship_by = datetime.fromisoformat(next(o["ship_by"] for o in to_ship if o["order_id"] == order_id))
    deadline = row.locator("td").nth(3).locator("time")
    await expect(deadline).to_have_attribute("datetime", ship_by.isoformat())
    await expect(deadline).to_have_text(ship_by.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    await expect(row.locator("td").nth(3)).to_contain_text("(in ")

    # Takings come from live's funnel, which hears of the payment over NATS: once its API counts it, so does Today.
    async def counted() -> bool:
        async with stack.client("live", merchant_token) as live:
            found = await live.get(f"/merchants/{stack.demo.merchant_id}/funnel")
        if found.status_code == 404:  # nothing counted for the merchant yet
            return False
        assert found.status_code == 200, found.text
        return [(m["currency"], m["gross_paid_minor"]) for m in found.json()["money"]] == [("USD", 4700)]

    await eventually(counted, timeout=20)
    await merchant.reload()
    await expect(merchant.get_by_test_id("gmv-today")).to_have_text("$47.00")
