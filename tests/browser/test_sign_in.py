"""The dev sign-in page, in a real browser: each demo role's user, and a session per person."""

from __future__ import annotations

from playwright.async_api import Page, expect

SERVICES = ("shop", "local_life", "web")

ROLES = ("merchant", "host", "buyer", "clerk", "operator")


async def test_sign_in_page_offers_each_roles_demo_user(buyer: Page) -> None:
    await buyer.goto("/sign-in")

    await expect(buyer.get_by_role("heading", level=1)).to_have_text("Sign in")
    for role in ROLES:
        button = buyer.get_by_test_id(f"sign-in-{role}")
        await expect(button).to_have_text(f"Sign in as the demo {role}")
        await expect(button).to_be_enabled()
        await expect(buyer.get_by_text(f"{role}-demo", exact=True)).to_be_visible()


async def test_merchant_signs_in_to_the_back_office_and_the_buyer_stays_signed_out(merchant: Page, buyer: Page) -> None:
    await merchant.goto("/seller/products")  # not signed in: asked to, then brought back
    await expect(merchant).to_have_url("/sign-in?next=/seller/products")

    await merchant.get_by_test_id("sign-in-merchant").click()

    await expect(merchant).to_have_url("/seller/products")
    await expect(merchant.get_by_test_id("signed-in-as")).to_have_text("merchant-demo (merchant)")
    await buyer.goto("/seller")  # another person's context has no session
    await expect(buyer.get_by_test_id("sign-in-merchant")).to_be_visible()
    await expect(buyer.get_by_test_id("signed-in-as")).to_have_count(0)
