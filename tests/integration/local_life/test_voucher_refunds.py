"""A buyer refunds unused vouchers any time before use (随时退): local_life asks orders for the money once, and
orders' answer makes the vouchers refunded (once) or usable again; a redemption racing a refund: one of them wins."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from libs.contracts import (
    DealRefundRequested,
    RefundFailed,
    RefundLine,
    RefundSucceeded,
    VouchersRefunded,
)
from tests.harness import Stack, assert_problem, delivered_twice, eventually
from tests.integration.local_life.test_vouchers import buy, buyer_view, clerk_token, counter, outbox, published_deal

SERVICES = ("local_life",)


async def refund(stack: Stack, purchase: dict[str, Any], voucher_ids: list[str], key: str | None = None):
    headers = {"Idempotency-Key": key} if key else {}
    async with stack.client("local_life", purchase["buyer"]) as client:
        return await client.post("/vouchers/refund", json={"voucher_ids": voucher_ids}, headers=headers)


async def refund_state(stack: Stack, purchase: dict[str, Any], refund_id: str) -> dict[str, Any]:
    async with stack.client("local_life", purchase["buyer"]) as client:
        response = await client.get(f"/vouchers/refunds/{refund_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def statuses(stack: Stack, purchase: dict[str, Any]) -> list[str]:
    return [v["status"] for v in await buyer_view(stack, purchase)]


def answer(purchase: dict[str, Any], grant_id: str, *, units: int, amount_minor: int, failed: str | None = None):
    """orders' answer to a grant of `units` of the purchase's line 0."""
    order = purchase["order"]
    facts: dict[str, Any] = dict(
        grant_id=grant_id,
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        amount_minor=amount_minor,
        currency=order.currency,
        refund_lines=[RefundLine(line_no=0, sku_id=order.lines[0].sku_id, quantity=units, amount_minor=amount_minor)],
        lines=order.lines,
    )
    if failed:
        return RefundFailed(reason=failed, **facts)
    return RefundSucceeded(stripe_refund_id=f"re_{uuid.uuid4().hex[:12]}", refunded_at=order.paid_at, **facts)


async def requested(stack: Stack, grant_id: str) -> list[dict]:
    return [e for e in await outbox(stack, DealRefundRequested.SUBJECT) if e["grant_id"] == grant_id]


async def test_refunding_one_of_two_vouchers_asks_once_and_orders_success_refunds_it_once(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal, quantity=2)
    first, second = (v["voucher_id"] for v in purchase["vouchers"])

    asked = await refund(stack, purchase, [first], key="refund-1")
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["status"] == "pending"
    assert body["reason"] == "buyer"
    assert body["voucher_ids"] == [first]
    assert body["amount_minor"] == 9900
    assert body["currency"] == "CNY"
    assert body["refund_id"] == body["grant_id"]
    again = await refund(stack, purchase, [first], key="refund-1")
    assert again.status_code == 202
    assert again.json()["refund_id"] == body["refund_id"]
    assert await statuses(stack, purchase) == ["refund_pending", "unused"]

    [event] = await requested(stack, body["grant_id"])
    assert event["order_id"] == purchase["order"].order_id
    assert event["deal_id"] == deal["deal_id"]
    assert event["lines"] == [{"line_no": 0, "quantity": 1}]
    assert event["voucher_ids"] == [first]
    assert event["reason"] == "buyer"
    assert event["buyer_id"] == purchase["order"].buyer_id

    # A clerk scanning the refunding voucher is offered only the other one; the refunding one is not usable.
    clerk = await clerk_token(stack, shop)
    [shown] = [v for v in await buyer_view(stack, purchase) if v["voucher_id"] == first]
    async with stack.client("local_life", clerk) as client:
        prepared = await client.post("/redemptions/prepare", json={"code": shown["code"]})
    assert prepared.status_code == 200, prepared.text
    assert [v["voucher_id"] for v in prepared.json()["vouchers"]] == [second]

    # orders refunds it; the answer arriving twice changes nothing the second time.
    await delivered_twice(stack, answer(purchase, body["grant_id"], units=1, amount_minor=9900))
    done = await eventually(
        lambda: _decided(stack, purchase, body["refund_id"]),
        timeout=10,
    )
    assert done["status"] == "succeeded"
    assert done["refunded_minor"] == 9900
    assert done["decided_at"]
    assert await statuses(stack, purchase) == ["refunded", "unused"]
    await asyncio.sleep(0.5)  # the twin's turn
    refunded = [e for e in await outbox(stack, VouchersRefunded.SUBJECT) if e["grant_id"] == body["grant_id"]]
    assert len(refunded) == 1
    assert refunded[0]["voucher_ids"] == [first]
    assert refunded[0]["amount_minor"] == 9900
    assert refunded[0]["source"]["order_id"] == purchase["order"].order_id
    assert refunded[0]["reason"] == "buyer"

    gone = await refund(stack, purchase, [first])
    assert assert_problem(gone, 409, "voucher-not-refundable", "voucher_ids[0]")["reason"] == "refunded"


async def _decided(stack: Stack, purchase: dict[str, Any], refund_id: str) -> dict | None:
    state = await refund_state(stack, purchase, refund_id)
    return state if state["status"] != "pending" else None


async def test_a_failed_refund_makes_the_vouchers_usable_again_and_they_can_be_refunded_anew(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal, quantity=1)
    [voucher] = [v["voucher_id"] for v in purchase["vouchers"]]

    asked = await refund(stack, purchase, [voucher])
    assert asked.status_code == 202, asked.text
    grant_id = asked.json()["grant_id"]
    # Asked again without a key while it stands: the same refund.
    replay = await refund(stack, purchase, [voucher])
    assert replay.status_code == 202
    assert replay.json()["grant_id"] == grant_id

    await delivered_twice(stack, answer(purchase, grant_id, units=1, amount_minor=9900, failed="over-refundable"))
    failed = await eventually(lambda: _decided(stack, purchase, grant_id), timeout=10)
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == "over-refundable"
    assert await statuses(stack, purchase) == ["unused"]

    anew = await refund(stack, purchase, [voucher])
    assert anew.status_code == 202, anew.text
    assert anew.json()["grant_id"] != grant_id  # orders would take the old id for a redelivery
    assert len(await requested(stack, anew.json()["grant_id"])) == 1


async def test_refunds_take_the_buyers_own_vouchers_of_one_order(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    mine = await buy(stack, shop, deal, quantity=1)
    other = await buy(stack, shop, deal, quantity=1)
    [own] = [v["voucher_id"] for v in mine["vouchers"]]
    [theirs] = [v["voucher_id"] for v in other["vouchers"]]

    assert_problem(await refund(stack, mine, [theirs]), 404, "voucher-not-found")
    assert_problem(await refund(stack, mine, [str(uuid.uuid4())]), 404, "voucher-not-found")
    assert_problem(await refund(stack, mine, ["not-a-voucher"]), 404, "voucher-not-found")
    assert_problem(await refund(stack, mine, [own, own]), 422, "duplicate-voucher", "voucher_ids[1]")
    assert await statuses(stack, other) == ["unused"]

    # The same buyer's vouchers of two orders: one refund per order.
    second_order = await buy(stack, shop, deal, quantity=1)
    second_order["buyer"] = mine["buyer"]
    db = stack.apps["local_life"].runtime.db
    await db.execute(
        "UPDATE vouchers SET buyer_id = $1 WHERE order_id = $2", mine["order"].buyer_id, second_order["order"].order_id
    )
    [later] = [v["voucher_id"] for v in second_order["vouchers"]]
    assert_problem(await refund(stack, mine, [own, later]), 422, "vouchers-of-several-orders", "voucher_ids[1]")

    async with stack.client("local_life", other["buyer"]) as client:
        assert_problem(await client.get(f"/vouchers/refunds/{uuid.uuid4()}"), 404, "refund-not-found")
    mine_refund = await refund(stack, mine, [own])
    assert mine_refund.status_code == 202
    async with stack.client("local_life", other["buyer"]) as client:
        peek = await client.get(f"/vouchers/refunds/{mine_refund.json()['refund_id']}")
    assert_problem(peek, 404, "refund-not-found")


async def test_a_multi_visit_card_is_refunded_whole_and_not_once_used(stack: Stack) -> None:
    shop = await counter(stack)
    deal = await published_deal(stack, shop, vouchers_per_purchase=3)
    purchase = await buy(stack, shop, deal, quantity=2)
    ids = [v["voucher_id"] for v in purchase["vouchers"]]
    card1, card2 = ids[:3], ids[3:]

    assert_problem(await refund(stack, purchase, card1[:2]), 422, "partial-card")
    asked = await refund(stack, purchase, card1)
    assert asked.status_code == 202, asked.text
    assert asked.json()["amount_minor"] == 9900  # the card's three vouchers: one purchase
    [event] = await requested(stack, asked.json()["grant_id"])
    assert event["lines"] == [{"line_no": 0, "quantity": 1}]
    assert event["voucher_ids"] == sorted(card1)

    # One visit of the second card used: the rest is not refunded here (after-sales on the order).
    clerk = await clerk_token(stack, shop)
    views = {v["voucher_id"]: v for v in await buyer_view(stack, purchase)}
    async with stack.client("local_life", clerk) as client:
        prepared = (await client.post("/redemptions/prepare", json={"code": views[card2[0]]["code"]})).json()
        verified = await client.post(
            "/redemptions/verify", json={"verify_token": prepared["verify_token"], "voucher_ids": [card2[0]]}
        )
    assert verified.status_code == 200, verified.text
    assert_problem(await refund(stack, purchase, card2[1:]), 422, "partial-card")
    used = await refund(stack, purchase, card2)
    assert assert_problem(used, 409, "voucher-not-refundable", "voucher_ids[0]")["reason"] == "already-redeemed"
    assert await statuses(stack, purchase) == ["refund_pending"] * 3 + ["redeemed", "unused", "unused"]


async def test_a_refund_and_a_redemption_racing_on_each_voucher_end_one_or_the_other(stack: Stack) -> None:
    pairs = 50
    shop = await counter(stack)
    deal = await published_deal(stack, shop)
    purchase = await buy(stack, shop, deal, quantity=pairs)
    vouchers = await buyer_view(stack, purchase)
    clerk = await clerk_token(stack, shop)
    async with (
        stack.client("local_life", clerk) as counter_client,
        stack.client("local_life", purchase["buyer"]) as buyer,
    ):
        # One token per pair (a token's answer is stored once); each prepare offers the whole line's vouchers.
        tokens = [
            (await counter_client.post("/redemptions/prepare", json={"code": vouchers[0]["code"]})).json()[
                "verify_token"
            ]
            for _ in range(pairs)
        ]

        def redeem(i: int):
            return counter_client.post(
                "/redemptions/verify", json={"verify_token": tokens[i], "voucher_ids": [vouchers[i]["voucher_id"]]}
            )

        def ask(i: int):
            return buyer.post("/vouchers/refund", json={"voucher_ids": [vouchers[i]["voucher_id"]]})

        answers = await asyncio.gather(*(call for i in range(pairs) for call in (redeem(i), ask(i))))
    redeemed = {}
    refunding = {}
    for i in range(pairs):
        verify, asked = answers[2 * i], answers[2 * i + 1]
        assert verify.status_code == 200, verify.text
        redeemed[vouchers[i]["voucher_id"]] = verify.json()["vouchers"][0]["outcome"] == "redeemed"
        if asked.status_code == 202:
            refunding[vouchers[i]["voucher_id"]] = True
        else:
            assert assert_problem(asked, 409, "voucher-not-refundable")["reason"] == "already-redeemed"
            refunding[vouchers[i]["voucher_id"]] = False
    final = {v["voucher_id"]: v["status"] for v in await buyer_view(stack, purchase)}
    for voucher_id, status in final.items():
        assert redeemed[voucher_id] != refunding[voucher_id], voucher_id
        assert status == ("redeemed" if redeemed[voucher_id] else "refund_pending"), (voucher_id, status)
    order_events = [
        e for e in await outbox(stack, DealRefundRequested.SUBJECT) if e["order_id"] == purchase["order"].order_id
    ]
    assert sorted(v for e in order_events for v in e["voucher_ids"]) == sorted(k for k, r in refunding.items() if r)
