"""Flow 6 in real browsers: the demo buyer shows a voucher they bought (its code and QR code on My vouchers), the demo
clerk types the code at the counter and redeems it, the buyer's page then says it was used, and the same code again
is refused on the clerk's screen."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.browser.support import sign_in
from tests.harness import Stack
from tests.integration.local_life.support import new_deal
from tests.integration.orders.support import Buyer, pay_checkout
from tests.integration.orders.test_deal_lines import vouchers_of

SERVICES = ("shop", "live", "local_life", "orders", "web")


async def test_a_clerk_redeems_the_voucher_a_buyer_shows_once(stack: Stack, buyer: Page, clerk: Page) -> None:
    # Bought through the APIs with the demo buyer's token: the voucher is buyer-demo's, as the page signs them in.
    merchant = stack.demo.token(stack.infra, "merchant")
    deal = await new_deal(
        stack, merchant, publish=True, currency="USD", store_ids=[stack.demo.store_id], title="Hotpot for two"
    )
    async with stack.client("orders", stack.demo.token(stack.infra, "buyer")) as orders:
        await pay_checkout(stack, orders, [{"deal_id": deal["deal_id"], "quantity": 1}])
        (voucher,) = await vouchers_of(stack, Buyer("buyer-demo", orders), 1)

    await sign_in(buyer, "buyer")
    await buyer.get_by_role("navigation").get_by_role("link", name="My vouchers").click()
    await expect(buyer.get_by_role("heading", level=1)).to_have_text("My vouchers")
    await buyer.get_by_test_id("group-usable").get_by_role("link", name="Hotpot for two").click()
    await expect(buyer).to_have_url(re.compile(rf"/vouchers/{voucher['voucher_id']}$"))
    await expect(buyer.get_by_test_id("voucher-status")).to_have_text("Ready to use")
    await expect(buyer.get_by_role("img", name="QR code of this voucher, for the clerk to scan")).to_be_visible()
    code = (await buyer.get_by_test_id("voucher-code").inner_text()).strip()
    assert code == voucher["code"]

    # The clerk types what the buyer's screen shows.
    await sign_in(clerk, "clerk")
    await clerk.get_by_label("Voucher code").fill(code)
    await clerk.get_by_test_id("look-up").click()
    await expect(clerk.get_by_test_id(f"choose-{voucher['voucher_id']}")).to_be_checked()
    await clerk.get_by_test_id("redeem").click()
    await expect(clerk.get_by_test_id(f"outcome-text-{voucher['voucher_id']}")).to_have_text("redeemed")

    # The buyer's page, reloaded: used, at the demo store; no refund offered any more.
    await buyer.reload()
    await expect(buyer.get_by_test_id("voucher-status")).to_have_text("Used")
    await expect(buyer.get_by_test_id("redemptions")).to_contain_text("Demo Outfitters Studio")
    await expect(buyer.get_by_test_id("refund-form")).to_have_count(0)
    await buyer.get_by_role("link", name="← My vouchers").click()
    await expect(buyer.get_by_test_id("group-used")).to_contain_text("Hotpot for two")

    # The same code again: refused on the clerk's screen in local_life's words, nothing to redeem.
    await clerk.get_by_label("Voucher code").fill(code)
    await clerk.get_by_test_id("look-up").click()
    await expect(clerk.get_by_test_id("counter-refusal")).to_have_text("this voucher was already used")
    await expect(clerk.get_by_test_id("redeem")).to_have_count(0)
