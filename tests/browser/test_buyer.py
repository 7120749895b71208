"""The buyer's shopping in a real browser: a product found by search, put in the cart from its page, seen in the
cart (and in shop's), its quantity changed and the line removed."""

from __future__ import annotations

import uuid

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack

SERVICES = ("shop", "live", "orders", "web")


async def test_a_buyer_searches_a_product_adds_it_to_the_cart_and_sees_it_there(stack: Stack, buyer: Page) -> None:
    word = uuid.uuid4().hex[:6]
    title = f"Quokka plush {word}"
    body = {
        "title": title,
        "description": "Soft, 30 cm",
        "skus": [
            {"name": "Small", "price_minor": 1250, "stock": 5},
            {"name": "Large", "price_minor": 2200, "stock": 3},
        ],
    }
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        created = await shop.post("/seller/products", json=body)
    assert created.status_code == 201, created.text
    large = next(s for s in created.json()["skus"] if s["name"] == "Large")

    await sign_in(buyer, "buyer")
    await buyer.get_by_role("navigation").get_by_role("link", name="Search").click()
    await buyer.get_by_label("What are you looking for?").fill(f"quokka {word}")
    await buyer.get_by_test_id("search").click()
    result = buyer.get_by_test_id("results").get_by_role("listitem").filter(has_text=title)
    await expect(result).to_contain_text("$12.50 \u2013 $22.00")
    await expect(result).to_contain_text("In stock")
    await result.get_by_role("link", name=title).click()

    await expect(buyer.get_by_test_id("product-title")).to_have_text(title)
    await expect(buyer.get_by_test_id("merchant-name")).to_have_text("Sold by Demo Outfitters")
    await buyer.get_by_label("Large").check()
    await buyer.get_by_label("Quantity").fill("2")
    await buyer.get_by_test_id("add-to-cart").click()

    await expect(buyer).to_have_url("/cart")
    line = buyer.get_by_test_id(f"line-{large['sku_id']}")
    await expect(line).to_contain_text(title)
    await expect(line).to_contain_text("Large")
    await expect(buyer.get_by_test_id(f"line-quantity-{large['sku_id']}")).to_have_value("2")
    await expect(buyer.get_by_test_id(f"line-total-{large['sku_id']}")).to_have_text("$44.00")
    await expect(buyer.get_by_test_id("check-out")).to_be_visible()
    async with stack.client("shop", stack.demo.token(stack.infra, "buyer")) as shop:
        cart = (await shop.get("/cart")).json()
    assert [(item["sku_id"], item["quantity"]) for item in cart["items"]] == [(large["sku_id"], 2)]

    # Three, then none: the cart follows.
    await buyer.get_by_label(f"Quantity of {title} · Large").fill("3")
    await buyer.get_by_test_id(f"update-{large['sku_id']}").click()
    await expect(buyer.get_by_test_id(f"line-total-{large['sku_id']}")).to_have_text("$66.00")
    await buyer.get_by_role("button", name=f"Remove {title} · Large").click()
    await expect(buyer.get_by_test_id("cart-empty")).to_have_text("Your cart is empty.")
