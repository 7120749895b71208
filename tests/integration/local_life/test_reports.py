"""A merchant's reports and settlement: redemptions per store per day, vouchers per deal, and what is due (redeemed,
not undone, past the undo window), settled once; a settled redemption is not undone. Own data only."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from tests.harness import Stack, assert_problem
from tests.integration.local_life.support import merchant, new_deal, new_store
from tests.integration.local_life.test_voucher_refunds import refund
from tests.integration.local_life.test_vouchers import ALL_DAY, buy, buyer_view, clerk_token, counter, published_deal

SERVICES = ("local_life",)
# A second instance settling with a shorter undo window than the clerks' (a setting changed between deploys): the
# only way a settled redemption can still be inside another instance's undo window.
INSTANCES = {"settler": ("local_life", {"undo_window_s": 60})}


async def redeem(stack: Stack, clerk: str, vouchers: list[dict[str, Any]], service: str = "local_life") -> list[str]:
    """A clerk redeems these vouchers (of one line) in one visit; their redemption ids."""
    async with stack.client(service, clerk) as client:
        prepared = await client.post("/redemptions/prepare", json={"code": vouchers[0]["code"]})
        assert prepared.status_code == 200, prepared.text
        verified = await client.post(
            "/redemptions/verify",
            json={"verify_token": prepared.json()["verify_token"], "voucher_ids": [v["voucher_id"] for v in vouchers]},
        )
    assert verified.status_code == 200, verified.text
    return [v["redemption_id"] for v in verified.json()["vouchers"]]


async def seller_get(stack: Stack, token: str, path: str, **params: Any) -> Any:
    async with stack.client("local_life", token) as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_redemptions_per_store_per_local_day_and_vouchers_per_deal(stack: Stack) -> None:
    shop = await counter(stack)
    far = await new_store(stack, shop["token"], timezone="America/Los_Angeles", opening_hours=ALL_DAY)
    deal = await published_deal(stack, shop, store_ids=[shop["store"]["store_id"], far["store_id"]])
    purchase = await buy(stack, shop, deal, quantity=5)
    vouchers = await buyer_view(stack, purchase)
    here = await clerk_token(stack, shop)
    there = await clerk_token(stack, shop, far["store_id"])
    await redeem(stack, here, vouchers[:2])
    [undone] = await redeem(stack, there, vouchers[2:3])
    async with stack.client("local_life", there) as client:
        assert (await client.post(f"/redemptions/{undone}/undo")).status_code == 200
    await redeem(stack, there, vouchers[3:4])
    assert (await refund(stack, purchase, [vouchers[4]["voucher_id"]])).status_code == 202

    now = stack.clock.now()
    days = {tz: now.astimezone(ZoneInfo(tz)).date() for tz in ("Asia/Shanghai", "America/Los_Angeles")}
    report = await seller_get(
        stack,
        shop["token"],
        "/seller/reports/redemptions",
        **{"from": str(min(days.values())), "to": str(max(days.values()))},
    )
    rows = {(r["store_id"], r["day"]): (r["redemptions"], r["amount_minor"], r["currency"]) for r in report["items"]}
    assert rows == {
        (shop["store"]["store_id"], str(days["Asia/Shanghai"])): (2, 19800, "CNY"),
        (far["store_id"], str(days["America/Los_Angeles"])): (1, 9900, "CNY"),
    }

    [counts] = (await seller_get(stack, shop["token"], "/seller/reports/vouchers", deal_id=deal["deal_id"]))["items"]
    assert counts == {
        "deal_id": deal["deal_id"],
        "title": deal["title"],
        "sold": 5,
        "unused": 1,
        "redeemed": 3,
        "refund_pending": 1,
        "refunded": 0,
        "expired": 0,
    }

    # Another merchant sees none of it, and not the deal either.
    _, stranger = merchant(stack)
    theirs = await seller_get(
        stack, stranger, "/seller/reports/redemptions", **{"from": "2020-01-01", "to": "2020-12-31"}
    )
    assert theirs["items"] == []
    assert (await seller_get(stack, stranger, "/seller/reports/vouchers"))["items"] == []
    async with stack.client("local_life", stranger) as client:
        peek = await client.get("/seller/reports/vouchers", params={"deal_id": deal["deal_id"]})
        backwards = await client.get("/seller/reports/redemptions", params={"from": "2021-01-02", "to": "2021-01-01"})
        missing = await client.get("/seller/reports/redemptions", params={"from": "2021-01-01"})
    assert_problem(peek, 404, "deal-not-found")
    assert_problem(backwards, 422, "invalid-range")
    assert_problem(missing, 400)


async def test_settlement_takes_what_is_past_the_undo_window_exactly_once(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal, quantity=3)
    vouchers = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    await redeem(stack, clerk, vouchers[:2])

    due = await seller_get(stack, shop["token"], "/seller/settlement")
    assert due["totals"] == []  # both can still be undone
    async with stack.client("local_life", shop["token"]) as client:
        assert_problem(await client.post("/seller/settlements"), 409, "nothing-to-settle")

    stack.clock.advance(3601)
    await redeem(stack, clerk, vouchers[2:3])  # inside the window again: not due yet
    due = await seller_get(stack, shop["token"], "/seller/settlement")
    assert due["totals"] == [{"currency": "CNY", "redemptions": 2, "amount_minor": 19800}]

    async with stack.client("local_life", shop["token"]) as client:
        settled = await client.post("/seller/settlements", headers={"Idempotency-Key": "settle-1"})
        again = await client.post("/seller/settlements", headers={"Idempotency-Key": "settle-1"})
        nothing = await client.post("/seller/settlements")
    assert settled.status_code == 201, settled.text
    assert settled.json()["totals"] == [{"currency": "CNY", "redemptions": 2, "amount_minor": 19800}]
    assert again.status_code == 201
    assert again.json() == settled.json()
    assert_problem(nothing, 409, "nothing-to-settle")
    assert (await seller_get(stack, shop["token"], "/seller/settlement"))["totals"] == []
    listed = await seller_get(stack, shop["token"], "/seller/settlements")
    assert [s["settlement_id"] for s in listed["items"]] == [settled.json()["settlement_id"]]

    _, stranger = merchant(stack)
    assert (await seller_get(stack, stranger, "/seller/settlement"))["totals"] == []
    assert (await seller_get(stack, stranger, "/seller/settlements"))["items"] == []


async def test_a_settled_redemption_is_not_undone_even_inside_the_undo_window(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await new_deal(stack, shop["token"], publish=True, store_ids=[shop["store"]["store_id"]])
    purchase = await buy(stack, shop, deal, quantity=2)
    vouchers = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    [settled_one] = await redeem(stack, clerk, vouchers[:1])

    stack.clock.advance(61)  # past the settler's 60 s window, well inside the clerks' hour
    async with stack.client("settler", shop["token"]) as client:
        settled = await client.post("/seller/settlements")
    assert settled.status_code == 201, settled.text
    [kept] = await redeem(stack, clerk, vouchers[1:])
    async with stack.client("local_life", clerk) as client:
        refused = await client.post(f"/redemptions/{settled_one}/undo")
        fine = await client.post(f"/redemptions/{kept}/undo")
    body = assert_problem(refused, 409, "settled")
    assert body["settlement_id"] == settled.json()["settlement_id"]
    assert fine.status_code == 200, fine.text
