"""The clerk counter over HTTP, against real services: a voucher bought with a paid checkout is looked up by its code,
redeemed through the page, refused on the page the second time in local_life's words, and undone; the store's
redemptions of today listed after each redeem and undo, each with an undo while local_life allows it; only a clerk gets
the counter."""

from __future__ import annotations

import re

import pytest

from tests.harness import Stack
from tests.integration.local_life.support import new_deal
from tests.integration.orders.support import new_buyer, pay_checkout
from tests.integration.orders.test_deal_lines import vouchers_of
from tests.integration.web.support import csrf, hidden, signed_in_as

SERVICES = ("shop", "live", "local_life", "orders", "web")
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _voucher(stack: Stack) -> dict:
    """A voucher of a deal of the demo merchant at the demo clerk's store, bought and paid by a fresh buyer."""
    merchant = stack.demo.token(stack.infra, "merchant")
    deal = await new_deal(stack, merchant, publish=True, currency="USD", store_ids=[stack.demo.store_id])
    buyer = new_buyer(stack)
    await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 1}])
    (voucher,) = await vouchers_of(stack, buyer, 1)
    return voucher


def _offered(html: str) -> list[str]:
    return re.findall(r'name="voucher_id" value="([^"]+)"', html)


async def test_a_clerk_redeems_a_paid_voucher_once_and_the_second_time_is_refused_on_the_page(stack: Stack) -> None:
    voucher = await _voucher(stack)
    async with signed_in_as(stack, "clerk") as client:
        counter = await client.get("/counter")
        assert counter.status_code == 200, counter.text
        assert '<label for="code">Voucher code</label>' in counter.text
        assert "Demo Outfitters Studio" in counter.text

        # The code as a clerk types it (lower case, spaces): the usable voucher, masked as local_life gives it.
        typed = voucher["code"].lower().replace("-", " ")
        prepared = await client.post("/counter/prepare", data={"code": typed, "_csrf_token": csrf(client)})
        assert prepared.status_code == 200, prepared.text
        assert _offered(prepared.text) == [voucher["voucher_id"]]
        assert voucher["code"] not in prepared.text  # masked, never the whole code
        assert voucher["code"][-6:-2] in prepared.text
        token = hidden(prepared.text, "verify_token")

        redeemed = await client.post(
            "/counter/redeem",
            data={"verify_token": token, "voucher_id": voucher["voucher_id"], "_csrf_token": csrf(client)},
        )
        assert redeemed.status_code == 200, redeemed.text
        outcome = re.search(rf'data-testid="outcome-text-{voucher["voucher_id"]}">([^<]*)<', redeemed.text)
        assert outcome
        assert outcome.group(1) == "redeemed"

        again = await client.post("/counter/prepare", data={"code": voucher["code"], "_csrf_token": csrf(client)})
        assert again.status_code == 409, again.text
        assert 'data-testid="counter-refusal">this voucher was already used<' in again.text
        assert _offered(again.text) == []

        # Undo within the window: the voucher can be used again.
        undo = re.search(r'action="(/counter/redemptions/[^"]+/undo)"', redeemed.text)
        assert undo
        undone = await client.post(undo.group(1), data={"_csrf_token": csrf(client)})
        assert undone.status_code == 200, undone.text
        assert 'data-testid="counter-undone"' in undone.text
        usable = await client.post("/counter/prepare", data={"code": voucher["code"], "_csrf_token": csrf(client)})
        assert _offered(usable.text) == [voucher["voucher_id"]]
        # Undone once: a second undo is refused on the page in local_life's words.
        twice = await client.post(undo.group(1), data={"_csrf_token": csrf(client)})
        assert twice.status_code == 409
        assert "this redemption was already undone" in twice.text


async def test_an_unknown_code_and_an_expired_token_are_refused_on_the_page(stack: Stack) -> None:
    async with signed_in_as(stack, "clerk") as client:
        unknown = await client.post(
            "/counter/prepare", data={"code": "ABCD-EFGH-JKMN-PQRS-TV", "_csrf_token": csrf(client)}
        )
        assert unknown.status_code in (404, 422), unknown.text
        assert 'data-testid="counter-refusal"' in unknown.text
        stale = await client.post(
            "/counter/redeem", data={"verify_token": "nope", "voucher_id": "v", "_csrf_token": csrf(client)}
        )
        assert stale.status_code == 404, stale.text
        assert "no such verify token at this store" in stale.text


async def test_the_counters_forms_need_their_csrf_token(stack: Stack) -> None:
    async with signed_in_as(stack, "clerk") as client:
        await client.get("/counter")
        answer = await client.post("/counter/prepare", data={"code": "ABCD"})
        assert answer.status_code == 403


async def test_the_counter_reads_in_simplified_chinese(stack: Stack) -> None:
    async with signed_in_as(stack, "clerk") as client:
        client.cookies.set("liveloop_lang", "zh_Hans")
        counter = await client.get("/counter")
        assert counter.status_code == 200
        assert "券码" in counter.text
        assert "核销台" in counter.text


@pytest.mark.parametrize("role", ["buyer", "merchant"])
async def test_only_a_clerk_gets_the_counter(stack: Stack, role: str) -> None:
    async with signed_in_as(stack, role) as client:
        assert (await client.get("/counter")).status_code == 403
        answer = await client.post("/counter/prepare", data={"code": "ABCD", "_csrf_token": csrf(client)})
        assert answer.status_code == 403


def _today_row(html: str, voucher_id: str) -> str | None:
    """The row of today's list for this voucher (its newest redemption), or None."""
    found = re.search(rf'<tr data-testid="today-[^"]+" data-voucher-id="{voucher_id}".*?</tr>', html, re.S)
    return found.group(0) if found else None


async def test_todays_redemptions_list_each_redeem_and_undo_at_once(stack: Stack) -> None:
    voucher = await _voucher(stack)
    async with signed_in_as(stack, "clerk") as client:
        counter = await client.get("/counter")
        assert _today_row(counter.text, voucher["voucher_id"]) is None
        prepared = await client.post("/counter/prepare", data={"code": voucher["code"], "_csrf_token": csrf(client)})
        redeemed = await client.post(
            "/counter/redeem",
            data={
                "verify_token": hidden(prepared.text, "verify_token"),
                "voucher_id": voucher["voucher_id"],
                "_csrf_token": csrf(client),
            },
        )
        # The redeem's own page lists it: masked, the deal, the clerk ("you"), undoable until an hour later.
        row = _today_row(redeemed.text, voucher["voucher_id"])
        assert row, redeemed.text
        assert voucher["code"] not in row
        assert voucher["code"][-6:-2] in row
        assert ">you<" in row
        assert 'data-testid="today-state">redeemed<' in row
        assert "until " in row
        redemption_id = re.search(r'data-testid="today-undo-([^"]+)"', row).group(1)

        # local_life lists it the same: the page shows its answer, in the store's day.
        clerk_token = stack.demo.token(stack.infra, "clerk")
        async with stack.client("local_life", clerk_token) as local_life:
            listed = (await local_life.get("/clerk/redemptions")).json()
        assert listed["items"][0]["redemption_id"] == redemption_id
        assert f"{listed['day']} · America/Los_Angeles" in redeemed.text

        # Undone from the list: the row stays, marked undone, without an undo.
        undone = await client.post(f"/counter/redemptions/{redemption_id}/undo", data={"_csrf_token": csrf(client)})
        assert undone.status_code == 200, undone.text
        assert 'data-testid="counter-undone"' in undone.text
        row = _today_row(undone.text, voucher["voucher_id"])
        assert row
        assert "undone at " in row
        assert 'data-testid="today-undo-' not in row
        # The list alone, as the counter polls it.
        fragment = await client.get("/counter/today")
        assert fragment.status_code == 200
        assert 'id="today"' in fragment.text
        assert "<html" not in fragment.text
        assert _today_row(fragment.text, voucher["voucher_id"])


async def test_past_its_undo_window_a_redemption_has_no_undo_in_the_list(stack: Stack) -> None:
    voucher = await _voucher(stack)
    async with signed_in_as(stack, "clerk") as client:
        prepared = await client.post("/counter/prepare", data={"code": voucher["code"], "_csrf_token": csrf(client)})
        redeemed = await client.post(
            "/counter/redeem",
            data={
                "verify_token": hidden(prepared.text, "verify_token"),
                "voucher_id": voucher["voucher_id"],
                "_csrf_token": csrf(client),
            },
        )
        assert 'data-testid="today-undo-' in (_today_row(redeemed.text, voucher["voucher_id"]) or "")
        day = re.search(r'data-testid="today-day">([0-9-]+) ', redeemed.text).group(1)
        stack.clock.advance(3601)  # local_life's clock: the hour to undo it is over (it decides, the page follows)
        counter = await client.get("/counter")
        row = _today_row(counter.text, voucher["voucher_id"])
        if row is None:  # the store's day turned meanwhile: yesterday's list no longer shows on the counter
            async with stack.client("local_life", stack.demo.token(stack.infra, "clerk")) as local_life:
                listed = (await local_life.get("/clerk/redemptions", params={"day": day})).json()
            assert [r["undoable_until"] for r in listed["items"] if r["voucher_id"] == voucher["voucher_id"]] == [None]
            return
        assert 'data-testid="today-state">redeemed<' in row
        assert 'data-testid="today-undo-' not in row


async def test_only_a_clerk_gets_todays_list(stack: Stack) -> None:
    async with signed_in_as(stack, "merchant") as client:
        assert (await client.get("/counter/today")).status_code == 403
