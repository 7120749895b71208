"""A clerk's list of their store's redemptions on one of its days (today in the store's time zone unless told):
newest first, masked, undone ones too, each with until when it may still be undone; only that store's."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.harness import Stack, assert_problem
from tests.integration.local_life.support import merchant, new_store
from tests.integration.local_life.test_reports import redeem
from tests.integration.local_life.test_vouchers import (
    ALL_DAY,
    buy,
    buyer_view,
    clerk_token,
    counter,
    published_deal,
)

SERVICES = ("local_life",)


async def listed(stack: Stack, clerk: str, **params: Any) -> dict[str, Any]:
    async with stack.client("local_life", clerk) as client:
        response = await client.get("/clerk/redemptions", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def todays(stack: Stack, clerk: str, **params: Any):
    async with stack.client("local_life", clerk) as client:
        return await client.get("/clerk/redemptions", params=params)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_a_clerk_lists_the_stores_redemptions_of_today_newest_first_with_undo_deadlines(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, title="Dim sum for four")
    purchase = await buy(stack, shop, deal, quantity=3)
    vouchers = await buyer_view(stack, purchase)
    ann, bob = await clerk_token(stack, shop), await clerk_token(stack, shop)
    [first] = await redeem(stack, ann, vouchers[:1])
    stack.clock.advance(1)
    [second] = await redeem(stack, bob, vouchers[1:2])
    stack.clock.advance(1)
    [undone] = await redeem(stack, ann, vouchers[2:3])
    async with stack.client("local_life", ann) as client:
        assert (await client.post(f"/redemptions/{undone}/undo")).status_code == 200

    now = stack.clock.now()
    page = await listed(stack, bob)  # any clerk of the store sees all its redemptions
    assert page["store_id"] == shop["store"]["store_id"]
    assert page["timezone"] == "Asia/Shanghai"
    assert page["day"] == str(now.astimezone(ZoneInfo("Asia/Shanghai")).date())
    assert page["next_cursor"] is None
    assert [r["redemption_id"] for r in page["items"]] == [undone, second, first]
    by_id = {r["redemption_id"]: r for r in page["items"]}
    codes = {v["voucher_id"]: v["code"] for v in vouchers}
    for row in page["items"]:
        code = codes[row["voucher_id"]]
        assert row["masked_code"].endswith(code[-6:-2])
        assert code not in row["masked_code"]
        assert row["deal_title"] == "Dim sum for four"
    assert by_id[second]["clerk_id"] != by_id[first]["clerk_id"]
    # Still in its undo window: until an hour after it was made (the service's setting); undone: no longer.
    for live in (first, second):
        assert by_id[live]["undone_at"] is None
        assert at(by_id[live]["undoable_until"]) == at(by_id[live]["redeemed_at"]) + timedelta(seconds=3600)
    assert by_id[undone]["undone_at"] is not None
    assert by_id[undone]["undoable_until"] is None


async def test_a_clerk_of_another_store_sees_none_of_them(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal)
    vouchers = await buyer_view(stack, purchase)
    here = await clerk_token(stack, shop)
    [redemption] = await redeem(stack, here, vouchers)
    day = (await listed(stack, here))["day"]
    # Another store of the same merchant, and a store of another merchant: their clerks list nothing of it.
    sibling = await new_store(stack, shop["token"], timezone="Asia/Shanghai", opening_hours=ALL_DAY)
    elsewhere = await counter(stack)
    for clerk in (await clerk_token(stack, shop, sibling["store_id"]), await clerk_token(stack, elsewhere)):
        page = await listed(stack, clerk, day=day)
        assert redemption not in [r["redemption_id"] for r in page["items"]]
        assert page["items"] == []
    # Someone who is not a clerk of the store their token names, a clerk of a store that does not exist, and other
    # roles are refused.
    _, other_merchant = merchant(stack)
    refused = [
        stack.infra.token("clerk", sub="nobody-here", store_id=shop["store"]["store_id"]),
        stack.infra.token("clerk", sub="clerk-x", store_id=str(uuid.uuid4())),
    ]
    for token in refused:
        assert_problem(await todays(stack, token), 403, "not-a-clerk-here")
    assert (await todays(stack, shop["token"])).status_code == 403
    assert (await todays(stack, other_merchant)).status_code == 403


async def test_the_day_is_the_stores_own_and_another_day_lists_that_days(stack: Stack) -> None:
    # UTC+14: for most of a UTC day, the store's day is already tomorrow.
    shop = await counter(stack, timezone="Pacific/Kiritimati")
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal)
    vouchers = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    [redemption] = await redeem(stack, clerk, vouchers)

    page = await listed(stack, clerk)
    [row] = page["items"]
    local_day = at(row["redeemed_at"]).astimezone(ZoneInfo("Pacific/Kiritimati")).date()
    assert page["day"] == str(local_day)
    assert page["timezone"] == "Pacific/Kiritimati"
    assert [r["redemption_id"] for r in (await listed(stack, clerk, day=str(local_day)))["items"]] == [redemption]
    for other in (local_day - timedelta(days=1), local_day + timedelta(days=1)):
        assert (await listed(stack, clerk, day=str(other)))["items"] == []


@pytest.mark.parametrize("day", ["yesterday", "2024-13-01", "2024-02-30", "0001-01-01", "9999-12-31", "20240101"])
async def test_a_day_that_is_not_one_is_refused_naming_day(stack: Stack, day: str) -> None:
    shop = await counter(stack)
    clerk = await clerk_token(stack, shop)
    problem = assert_problem(await todays(stack, clerk, day=day), 422, "invalid-day")
    assert problem["field"] == "day"


async def test_past_its_undo_window_a_redemption_is_listed_without_an_undo_deadline(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal)
    vouchers = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    [redemption] = await redeem(stack, clerk, vouchers)
    day = (await listed(stack, clerk))["day"]
    stack.clock.advance(3601)
    [row] = (await listed(stack, clerk, day=day))["items"]
    assert row["redemption_id"] == redemption
    assert row["undone_at"] is None
    assert row["undoable_until"] is None
    # Settled with the merchant: still listed, still not undoable.
    async with stack.client("local_life", shop["token"]) as seller:
        assert (await seller.post("/seller/settlements")).status_code == 201
    [row] = (await listed(stack, clerk, day=day))["items"]
    assert (row["redemption_id"], row["undoable_until"]) == (redemption, None)


async def test_a_long_day_is_read_a_page_at_a_time(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal, quantity=5)
    vouchers = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    made = []
    for voucher in vouchers:
        made += await redeem(stack, clerk, [voucher])
    day = (await listed(stack, clerk))["day"]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await listed(stack, clerk, day=day, limit=2, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen += [r["redemption_id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(made))
    assert_problem(await todays(stack, clerk, cursor="not-a-cursor"), 400, "invalid-cursor")
