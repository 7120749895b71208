"""At a voucher's `valid_until` (过期退): unused purchases of an auto-refund deal are refunded once, other unused
vouchers expire; verify tokens long expired are swept. Driven by the clock."""

from __future__ import annotations

import asyncio
from typing import Any

from libs.contracts import DealRefundRequested, VouchersExpired, VouchersRefunded
from libs.scheduler import schedule
from tests.harness import Stack, assert_problem, delivered_twice, eventually
from tests.integration.local_life.test_voucher_refunds import answer, refund, statuses
from tests.integration.local_life.test_vouchers import buy, buyer_view, clerk_token, counter, outbox, published_deal

SERVICES = ("local_life",)

DAY = 86400


async def expiry_scheduled(stack: Stack, purchase: dict[str, Any]) -> None:
    """The line's expiry job exists (local_life__voucher_expiry applied VouchersIssued): only then move the clock."""
    db = stack.apps["local_life"].runtime.db
    key = f"{purchase['order'].order_id}:0"
    await eventually(
        lambda: db.fetchval("SELECT true FROM due_jobs WHERE kind = 'voucher_expiry' AND key = $1", key), timeout=10
    )


async def of_order(stack: Stack, subject: str, purchase: dict[str, Any]) -> list[dict]:
    order_id = purchase["order"].order_id
    return [
        e for e in await outbox(stack, subject) if e.get("order_id", e.get("source", {}).get("order_id")) == order_id
    ]


async def test_expiry_refunds_an_auto_refund_deals_unused_vouchers_once_and_expires_the_others(stack: Stack) -> None:
    shop = await counter(stack)
    refunding = await published_deal(stack, shop, valid_days=1)
    keeping = await published_deal(stack, shop, valid_days=1, auto_refund_at_expiry=False)
    card = await published_deal(stack, shop, valid_days=1, vouchers_per_purchase=2)
    auto = await buy(stack, shop, refunding, quantity=2)
    plain = await buy(stack, shop, keeping, quantity=1)
    used_card = await buy(stack, shop, card, quantity=1)
    # One visit of the card is used: what is left of it expires rather than being refunded.
    clerk = await clerk_token(stack, shop)
    [first_visit, second_visit] = await buyer_view(stack, used_card)
    async with stack.client("local_life", clerk) as client:
        token = (await client.post("/redemptions/prepare", json={"code": first_visit["code"]})).json()["verify_token"]
        verified = await client.post(
            "/redemptions/verify", json={"verify_token": token, "voucher_ids": [first_visit["voucher_id"]]}
        )
    assert verified.status_code == 200, verified.text
    for purchase in (auto, plain, used_card):
        await expiry_scheduled(stack, purchase)

    stack.clock.advance(DAY + 60)

    await eventually(lambda: _all_settled(stack, (auto, plain, used_card)), timeout=15)
    assert await statuses(stack, auto) == ["refund_pending", "refund_pending"]
    assert await statuses(stack, plain) == ["expired"]
    assert await statuses(stack, used_card) == ["redeemed", "expired"]

    [asked] = await of_order(stack, DealRefundRequested.SUBJECT, auto)
    assert asked["reason"] == "expired"
    assert asked["lines"] == [{"line_no": 0, "quantity": 2}]
    assert asked["voucher_ids"] == sorted(v["voucher_id"] for v in auto["vouchers"])
    [expired] = await of_order(stack, VouchersExpired.SUBJECT, plain)
    assert expired["voucher_ids"] == [plain["vouchers"][0]["voucher_id"]]
    [card_expired] = await of_order(stack, VouchersExpired.SUBJECT, used_card)
    assert card_expired["voucher_ids"] == [second_visit["voucher_id"]]
    assert not await of_order(stack, DealRefundRequested.SUBJECT, plain)
    assert not await of_order(stack, DealRefundRequested.SUBJECT, used_card)
    gone = await refund(stack, plain, [plain["vouchers"][0]["voucher_id"]])
    assert assert_problem(gone, 409, "voucher-not-refundable")["reason"] == "expired"

    # The job run again (a lease lapsed, say) asks nothing twice.
    db = stack.apps["local_life"].runtime.db
    async with db.transaction() as conn:
        await schedule(conn, "voucher_expiry", f"{auto['order'].order_id}:0", stack.clock.now())
    await eventually(
        lambda: _job_gone(stack, f"{auto['order'].order_id}:0"),
        timeout=10,
    )
    assert len(await of_order(stack, DealRefundRequested.SUBJECT, auto)) == 1

    # orders refunds the expiry grant: the vouchers are refunded, announced once.
    await delivered_twice(stack, answer(auto, asked["grant_id"], units=2, amount_minor=19800))
    await eventually(lambda: _statuses_are(stack, auto, ["refunded", "refunded"]), timeout=10)
    await asyncio.sleep(0.5)
    refunded = [e for e in await outbox(stack, VouchersRefunded.SUBJECT) if e["grant_id"] == asked["grant_id"]]
    assert len(refunded) == 1
    assert refunded[0]["reason"] == "expired"
    assert refunded[0]["amount_minor"] == 19800


async def _all_settled(stack: Stack, purchases) -> bool:
    for purchase in purchases:
        if "unused" in await statuses(stack, purchase):
            return False
    return True


async def _job_gone(stack: Stack, key: str) -> bool:
    db = stack.apps["local_life"].runtime.db
    return not await db.fetchval("SELECT true FROM due_jobs WHERE kind = 'voucher_expiry' AND key = $1", key)


async def _statuses_are(stack: Stack, purchase: dict[str, Any], expected: list[str]) -> bool:
    return await statuses(stack, purchase) == expected


async def test_verify_tokens_are_swept_a_day_after_they_expire(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal)
    clerk = await clerk_token(stack, shop)
    [voucher] = await buyer_view(stack, purchase)
    async with stack.client("local_life", clerk) as client:
        prepared = await client.post("/redemptions/prepare", json={"code": voucher["code"]})
        assert prepared.status_code == 200, prepared.text
        token = prepared.json()["verify_token"]
        db = stack.apps["local_life"].runtime.db
        count = "SELECT count(*) FROM verify_tokens WHERE store_id = $1"
        store_id = shop["store"]["store_id"]
        assert await db.fetchval(count, store_id) == 1

        stack.clock.advance(3600)  # expired, but its answer is still kept for a retry
        await asyncio.sleep(1.5)
        assert await db.fetchval(count, store_id) == 1
        expired = await client.post(
            "/redemptions/verify", json={"verify_token": token, "voucher_ids": [voucher["voucher_id"]]}
        )
        assert_problem(expired, 409, "verify-token-expired")

        stack.clock.advance(DAY + 3600)
        await eventually(lambda: _no_tokens(stack, store_id), timeout=10)
        swept = await client.post(
            "/redemptions/verify", json={"verify_token": token, "voucher_ids": [voucher["voucher_id"]]}
        )
        assert_problem(swept, 404, "verify-token-not-found")


async def _no_tokens(stack: Stack, store_id: str) -> bool:
    db = stack.apps["local_life"].runtime.db
    return await db.fetchval("SELECT count(*) FROM verify_tokens WHERE store_id = $1", store_id) == 0
