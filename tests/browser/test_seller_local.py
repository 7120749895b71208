"""The seller's local-life pages in a real browser, as the demo merchant works them: a deal drafted for the demo
store, published, and listed on sale."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack

# The deal form asks shop for the merchant's currency; the rest is local_life's.
SERVICES = ("shop", "local_life", "web")


async def test_merchant_drafts_a_deal_for_the_demo_store_publishes_it_and_sees_it_on_sale(
    stack: Stack, merchant: Page
) -> None:
    await sign_in(merchant, "merchant")
    await merchant.get_by_role("navigation").get_by_role("link", name="Deals").click()
    await expect(merchant.get_by_role("heading", level=1)).to_have_text("Deals")
    await merchant.get_by_test_id("new-deal").click()

    await merchant.get_by_label("Title").fill("Afternoon tea for two 双人下午茶")
    await merchant.get_by_label("Description").fill("Scones, sandwiches and a pot of oolong")
    await merchant.get_by_label("Price (USD)").fill("38")
    await merchant.get_by_label("Worth (USD)").fill("52.50")
    await merchant.get_by_label("Demo Outfitters Studio").check()
    await merchant.get_by_label("Days valid after purchase").fill("60")
    await merchant.get_by_label("Sunday").uncheck()
    await merchant.get_by_label("Purchases per buyer").fill("2")
    await merchant.get_by_test_id("save-deal").click()

    # The draft's page: its terms as typed, then published.
    await expect(merchant.get_by_test_id("deal-title")).to_have_text("Afternoon tea for two 双人下午茶")
    await expect(merchant.get_by_test_id("deal-status")).to_have_text("draft")
    await expect(merchant.get_by_test_id("deal-price")).to_have_text("$38.00")
    await expect(merchant.get_by_test_id("deal-value")).to_have_text("$52.50")
    await expect(merchant.get_by_test_id("deal-stores")).to_contain_text("Demo Outfitters Studio")
    await expect(merchant.get_by_test_id("deal-usage")).not_to_contain_text("Sunday")
    deal_id = await merchant.get_by_test_id("deal-id").inner_text()
    await merchant.get_by_test_id("publish-deal").click()
    await expect(merchant.get_by_test_id("deal-status")).to_have_text("published")
    await expect(merchant.get_by_test_id("publish-deal")).to_have_count(0)
    await expect(merchant.get_by_test_id("voucher-report")).to_be_visible()

    # Listed among the deals on sale.
    await merchant.get_by_role("navigation").get_by_role("link", name="Deals").click()
    await merchant.get_by_test_id("deals-tab-published").click()
    row = merchant.get_by_test_id(f"deal-row-{deal_id}")
    await expect(row).to_contain_text("Afternoon tea for two 双人下午茶")
    await expect(row.get_by_test_id(f"deal-status-{deal_id}")).to_have_text("published")
    await expect(row).to_contain_text("60 days after purchase")

    # local_life has it, as the form said.
    async with stack.client("local_life", stack.demo.token(stack.infra, "merchant")) as local_life:
        found = await local_life.get(f"/seller/deals/{deal_id}")
    assert found.status_code == 200, found.text
    deal = found.json()
    assert (deal["status"], deal["price_minor"], deal["original_value_minor"], deal["currency"]) == (
        "published",
        3800,
        5250,
        "USD",
    )
    assert (deal["store_ids"], deal["valid_days"], deal["usage_weekdays"], deal["per_buyer_limit"]) == (
        [stack.demo.store_id],
        60,
        [0, 1, 2, 3, 4, 5],
        2,
    )
