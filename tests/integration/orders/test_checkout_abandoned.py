"""A checkout refused after shop reserved its stock gives that stock back at once (CheckoutAbandoned), not at
hold_until: over real HTTP, Postgres, NATS and localstripe, with shop and orders. The clock is never pushed.

Live's `CouponClaimed` events are published here as live's relay would.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from libs.contracts import (
    RESERVE_STOCK,
    CheckoutAbandoned,
    CouponClaimed,
    ReserveItem,
    ReserveStock,
    ReserveStockReply,
    StockReleased,
)
from libs.ids import derived_id
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.orders.support import Buyer, Seller, new_buyer, new_seller

SERVICES = ("shop", "orders")
CONSUMER = "shop__release_abandoned_checkouts"


async def available(stack: Stack, seller: Seller) -> int:
    """What any shopper sees left of the SKU (shop's public product page)."""
    async with stack.client("shop") as anyone:
        response = await anyone.get(f"/products/{seller.product_id}")
    assert response.status_code == 200, response.text
    return response.json()["skus"][0]["stock_available"]


async def reserved(stack: Stack, seller: Seller) -> int:
    async with stack.client("shop", seller.token) as client:
        return (await client.get(f"/seller/products/{seller.product_id}")).json()["skus"][0]["stock_reserved"]


async def claimed(stack: Stack, db: asyncpg.Connection, buyer: Buyer, seller: Seller, **terms: Any) -> str:
    """A coupon the buyer claimed in the seller's room, once orders keeps it."""
    event = CouponClaimed(
        coupon_id=str(uuid.uuid4()),
        drop_id=str(uuid.uuid4()),
        room_id="room-abandoned",
        merchant_id=seller.merchant_id,
        buyer_id=buyer.buyer_id,
        kind="amount_off",
        currency="USD",
        valid_until=stack.clock.now() + timedelta(hours=2),
        **terms,
    )
    await publish(stack, event)
    await eventually(
        lambda: db.fetchval("SELECT status FROM orders.coupons WHERE coupon_id = $1", event.coupon_id), timeout=10
    )
    return event.coupon_id


async def checkout(
    buyer: Buyer, seller: Seller, quantity: int, coupon_id: str | None = None, key: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"items": [{"sku_id": seller.sku_id, "quantity": quantity, "room_id": "room-abandoned"}]}
    if coupon_id is not None:
        body["coupon_ids"] = [coupon_id]
    return await buyer.client.post("/checkout", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def abandoned_events(db: asyncpg.Connection, buyer_id: str) -> list[dict[str, Any]]:
    """The CheckoutAbandoned events orders wrote for this buyer (its outbox)."""
    rows = await db.fetch(
        """SELECT convert_from(payload, 'UTF8') AS payload FROM orders.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'buyer_id' = $2 ORDER BY seq""",
        CheckoutAbandoned.SUBJECT,
        buyer_id,
    )
    return [json.loads(r["payload"]) for r in rows]


async def releases_of(db: asyncpg.Connection, checkout_id: str) -> list[dict[str, Any]]:
    """The StockReleased events shop wrote for this checkout (its outbox)."""
    rows = await db.fetch(
        """SELECT convert_from(payload, 'UTF8') AS payload FROM shop.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'checkout_id' = $2""",
        StockReleased.SUBJECT,
        checkout_id,
    )
    return [json.loads(r["payload"]) for r in rows]


async def drained(stack: Stack, db: asyncpg.Connection) -> bool:
    """Everything orders wrote is published, and shop's abandonment consumer has applied all of it."""
    if await db.fetchval("SELECT count(*) FROM orders.outbox WHERE published_at IS NULL"):
        return False
    bus = stack.apps["shop"].runtime.bus
    info = await bus.js.consumer_info(bus.stream("ORDERS"), CONSUMER)
    return not (info.num_pending or info.num_ack_pending)


async def reserve_again(stack: Stack, buyer_id: str, checkout_id: str, sku_id: str, quantity: int) -> ReserveStockReply:
    """Replay a checkout's reservation at shop, as orders would for a retry with the same Idempotency-Key."""
    now = stack.clock.now()
    request = ReserveStock(
        checkout_id=checkout_id,
        buyer_id=buyer_id,
        items=[ReserveItem(sku_id=sku_id, quantity=quantity)],
        hold_until=now + timedelta(hours=1),
    )
    return await stack.apps["shop"].runtime.bus.request(RESERVE_STOCK, request, ReserveStockReply)


# --- tests ---------------------------------------------------------------------------------------


async def test_checkouts_that_lose_the_coupon_race_give_their_stock_back_soon(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller = await new_seller(stack, 2000, stock=20)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon_id = await claimed(stack, db, buyer, seller, amount_off_minor=500)
        assert await available(stack, seller) == 20
        keys = [str(uuid.uuid4()) for _ in range(5)]
        answers = await asyncio.gather(*(checkout(buyer, seller, 2, coupon_id, key) for key in keys))
        won = [a for a in answers if a.status_code == 201]
        assert len(won) == 1, [a.text for a in answers]
        lost = [(k, a) for k, a in zip(keys, answers, strict=True) if a.status_code != 201]
        for _, answer in lost:
            assert_problem(answer, 409, "coupon-used")

        # Only the winner's 2 units stay held; no clock pushed, so this is not shop's hold expiry.
        await eventually(lambda: _equals(available(stack, seller), 18), timeout=15)
        assert await reserved(stack, seller) == 2
        # Every loser that reserved before losing was abandoned, each once, naming the refusal.
        holds = await db.fetchval("SELECT count(*) FROM shop.reservations WHERE buyer_id = $1", buyer.buyer_id)
        events = await abandoned_events(db, buyer.buyer_id)
        assert len(events) == holds - 1 >= 1, events
        assert {e["reason"] for e in events} == {"coupon-used"}
        assert len({e["checkout_id"] for e in events}) == len(events)
        assert won[0].json()["checkout_id"] not in {e["checkout_id"] for e in events}

        # A retry of a lost checkout with its Idempotency-Key is told to start anew, with or without the coupon.
        key, _ = lost[0]
        assert_problem(await checkout(buyer, seller, 2, coupon_id, key), 409, "checkout-expired")
        assert_problem(await checkout(buyer, seller, 2, None, key), 409, "checkout-expired")
        fresh = await checkout(buyer, seller, 2)
        assert fresh.status_code == 201, fresh.text
    assert await available(stack, seller) == 16


async def test_a_min_spend_refusal_leaves_available_stock_as_it_was(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 1000, stock=10)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon_id = await claimed(stack, db, buyer, seller, amount_off_minor=100, min_spend_minor=5000)
        key = str(uuid.uuid4())
        assert_problem(await checkout(buyer, seller, 3, coupon_id, key), 422, "coupon-min-spend-not-met")
        checkout_id = derived_id(buyer.buyer_id, key)
        (event,) = await abandoned_events(db, buyer.buyer_id)
        assert (event["checkout_id"], event["reason"]) == (checkout_id, "coupon-min-spend-not-met")

        await eventually(lambda: releases_of(db, checkout_id), timeout=15)
        (released,) = await releases_of(db, checkout_id)
        assert (released["reason"], released["lines"]) == (
            "checkout_abandoned",
            [{"sku_id": seller.sku_id, "quantity": 3}],
        )
        assert (await available(stack, seller), await reserved(stack, seller)) == (10, 0)
        # Shop answers a replay of the released checkout as for any released hold; orders says checkout-expired.
        replay = await reserve_again(stack, buyer.buyer_id, checkout_id, seller.sku_id, 3)
        assert (replay.ok, replay.error, replay.lines) == (False, "expired", [])
        assert_problem(await checkout(buyer, seller, 3, None, key), 409, "checkout-expired")
        assert (await available(stack, seller), await reserved(stack, seller)) == (10, 0)
        assert await db.fetchval("SELECT status FROM orders.coupons WHERE coupon_id = $1", coupon_id) == "available"


async def test_an_abandonment_delivered_again_releases_once(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 1000, stock=10)
    buyer, other = new_buyer(stack), new_buyer(stack)
    async with buyer.client, other.client:
        coupon_id = await claimed(stack, db, buyer, seller, amount_off_minor=100, min_spend_minor=5000)
        assert_problem(await checkout(buyer, seller, 3, coupon_id), 422, "coupon-min-spend-not-met")
        (payload,) = await abandoned_events(db, buyer.buyer_id)
        await eventually(lambda: _equals(available(stack, seller), 10), timeout=15)
        # Someone else's hold: a second release of the abandoned 3 units would eat into it.
        assert (await checkout(other, seller, 4)).status_code == 201
        assert (await available(stack, seller), await reserved(stack, seller)) == (6, 4)

        event = CheckoutAbandoned(**{k: v for k, v in payload.items() if k != "occurred_at"})
        await publish(stack, event, msg_id=str(uuid.uuid4()))  # the same event past JetStream's dedupe: the inbox
        await publish(stack, CheckoutAbandoned(checkout_id=event.checkout_id, buyer_id=buyer.buyer_id, reason="again"))
        await eventually(lambda: drained(stack, db), timeout=15)
    assert (await available(stack, seller), await reserved(stack, seller)) == (6, 4)
    assert len(await releases_of(db, event.checkout_id)) == 1
    assert await db.fetchval("SELECT count(*) FROM shop.dead_letters WHERE consumer = $1", CONSUMER) == 0


async def test_an_abandonment_of_an_unknown_checkout_changes_nothing(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 2000, stock=5)
    buyer = new_buyer(stack)
    async with buyer.client:
        assert (await checkout(buyer, seller, 2)).status_code == 201
    unknown = str(uuid.uuid4())
    await publish(stack, CheckoutAbandoned(checkout_id=unknown, buyer_id=buyer.buyer_id, reason="coupon-used"))
    await eventually(lambda: drained(stack, db), timeout=15)
    assert (await available(stack, seller), await reserved(stack, seller)) == (3, 2)
    assert await releases_of(db, unknown) == []
    assert await db.fetchval("SELECT count(*) FROM shop.dead_letters WHERE consumer = $1", CONSUMER) == 0


async def test_a_retry_racing_a_refusal_under_the_same_key_never_leaves_a_placed_checkout_without_stock(
    stack: Stack, db: asyncpg.Connection
) -> None:
    """The buyer retries without the refused coupon but with the same Idempotency-Key, while the refusal is written."""
    for _ in range(5):
        seller = await new_seller(stack, 1000, stock=10)
        buyer = new_buyer(stack)
        async with buyer.client:
            coupon_id = await claimed(stack, db, buyer, seller, amount_off_minor=100, min_spend_minor=5000)
            key = str(uuid.uuid4())
            answers = await asyncio.gather(
                *(checkout(buyer, seller, 3, coupon_id if i % 2 else None, key) for i in range(6))
            )
            placed = {a.json()["checkout_id"] for a in answers if a.status_code == 201}
            for refused in (a for a in answers if a.status_code != 201):
                assert refused.status_code in (409, 422), refused.text
            await eventually(lambda: drained(stack, db), timeout=15)
            if placed:
                # The checkout stands, so its 3 units stay held for it, and it was never abandoned.
                assert placed == {derived_id(buyer.buyer_id, key)}
                assert (await available(stack, seller), await reserved(stack, seller)) == (7, 3)
                assert await abandoned_events(db, buyer.buyer_id) == []
                shown = await buyer.client.get(f"/checkouts/{placed.pop()}")
                assert shown.json()["status"] == "awaiting_payment", shown.text
            else:
                assert (await available(stack, seller), await reserved(stack, seller)) == (10, 0)
                assert len(await abandoned_events(db, buyer.buyer_id)) == 1


async def _equals(value: Any, expected: Any) -> bool:
    return await value == expected
