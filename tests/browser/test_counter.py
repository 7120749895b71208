"""The clerk counter in a real browser, as the demo clerk works it: a bought voucher looked up by its code, redeemed,
undone and redeemed again, then refused in local_life's words; today's list shows a redemption at once and undoes it."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack
from tests.integration.local_life.support import new_deal
from tests.integration.orders.support import new_buyer, pay_checkout
from tests.integration.orders.test_deal_lines import vouchers_of

SERVICES = ("shop", "live", "local_life", "orders", "web")


async def bought_voucher(stack: Stack) -> dict:
    """A voucher of the demo merchant's deal at the demo clerk's store, bought and paid by a fresh buyer."""
    merchant = stack.demo.token(stack.infra, "merchant")
    deal = await new_deal(stack, merchant, publish=True, currency="USD", store_ids=[stack.demo.store_id])
    buyer = new_buyer(stack)
    await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 1}])
    (voucher,) = await vouchers_of(stack, buyer, 1)
    return voucher


async def test_clerk_redeems_a_voucher_undoes_it_and_a_second_redeem_is_refused(stack: Stack, clerk: Page) -> None:
    voucher = await bought_voucher(stack)
    await clerk.goto("/sign-in")
    await clerk.get_by_test_id("sign-in-clerk").click()
    await expect(clerk.get_by_test_id("signed-in-as")).to_have_text("clerk-demo (clerk)")
    await expect(clerk.get_by_role("heading", level=1)).to_have_text("Counter")
    await expect(clerk.get_by_test_id("counter-store")).to_have_text("Demo Outfitters Studio")

    voucher_id = voucher["voucher_id"]

    async def redeem(typed: str) -> None:
        await clerk.get_by_label("Voucher code").fill(typed)
        await clerk.get_by_test_id("look-up").click()
        await expect(clerk.get_by_test_id(f"masked-{voucher_id}")).to_contain_text(voucher["code"][-6:-2])
        await expect(clerk.get_by_test_id(f"choose-{voucher_id}")).to_be_checked()
        await clerk.get_by_test_id("redeem").click()
        await expect(clerk.get_by_test_id(f"outcome-text-{voucher_id}")).to_have_text("redeemed")

    await redeem(voucher["code"].lower())
    # Undone within the window: the voucher is usable again, and redeemed again.
    await clerk.get_by_test_id(f"undo-{voucher_id}").click()
    await expect(clerk.get_by_test_id("counter-undone")).to_be_visible()
    await redeem(voucher["code"])

    # The same code once more: refused on the page, in local_life's words; nothing offered to redeem.
    await clerk.get_by_label("Voucher code").fill(voucher["code"])
    await clerk.get_by_test_id("look-up").click()
    await expect(clerk.get_by_test_id("counter-refusal")).to_have_text("this voucher was already used")
    await expect(clerk.get_by_test_id("redeem")).to_have_count(0)
    await expect(clerk.get_by_label("Voucher code")).to_have_value(voucher["code"])


async def test_todays_list_shows_the_redemption_and_undoes_it(stack: Stack, clerk: Page) -> None:
    voucher = await bought_voucher(stack)
    voucher_id = voucher["voucher_id"]
    await sign_in(clerk, "clerk")
    today = clerk.get_by_test_id("today")
    await expect(today.locator(f'[data-voucher-id="{voucher_id}"]')).to_have_count(0)

    await clerk.get_by_label("Voucher code").fill(voucher["code"])
    await clerk.get_by_test_id("look-up").click()
    await clerk.get_by_test_id("redeem").click()
    await expect(clerk.get_by_test_id(f"outcome-text-{voucher_id}")).to_have_text("redeemed")

    # Today's list has it at once, newest first: masked, this clerk's, undoable.
    row = today.locator("tbody tr").first
    await expect(row).to_have_attribute("data-voucher-id", voucher_id)
    await expect(row.get_by_test_id("today-code")).to_contain_text(voucher["code"][-6:-2])
    await expect(row.get_by_test_id("today-state")).to_have_text("redeemed")
    await expect(row).to_contain_text("you")
    await row.get_by_role("button", name="Undo").click()

    await expect(clerk.get_by_test_id("counter-undone")).to_be_visible()
    row = today.locator(f'[data-voucher-id="{voucher_id}"]')
    await expect(row.get_by_test_id("today-state")).to_contain_text("undone at")
    await expect(row.get_by_role("button", name="Undo")).to_have_count(0)
