"""Attribution you can trust: a checkout line naming a live room is checked with live (the room exists and sells
for the line's merchant) before anything is recorded; a true source is counted for the room once paid."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.harness import Infra, Stack, assert_problem, eventually
from tests.integration.live.support import create_room, stats
from tests.integration.orders.support import buyer, checkout, seller_with_skus, stock

SERVICES = ("shop", "live", "orders")


async def checkouts_of(db: asyncpg.Connection, buyer_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM orders.checkouts WHERE buyer_id = $1", buyer_id)


def verified_of(order: dict) -> list[bool | None]:
    return [line["room_verified"] for line in order["lines"]]


@pytest.mark.parametrize("room_id", [str(uuid.uuid4()), "room-7"], ids=["unknown-uuid", "not-a-room-id"])
async def test_a_checkout_naming_a_room_that_does_not_exist_is_refused_and_creates_nothing(
    stack: Stack, db: asyncpg.Connection, room_id: str
) -> None:
    seller = await seller_with_skus(stack, (1000, 5), (500, 5))
    buyer_id, client = buyer(stack)
    items = [
        {"sku_id": seller.sku_ids[0], "quantity": 1},
        {"sku_id": seller.sku_ids[1], "quantity": 2, "room_id": room_id},
    ]
    async with client:
        body = assert_problem(await checkout(client, items), 422, "unknown-room", "items[1].room_id")
        assert room_id in body["detail"]
        assert (await client.get("/orders")).json()["items"] == []
    assert await checkouts_of(db, buyer_id) == 0
    # What shop held while live was asked goes back at once.
    await eventually(lambda: _stock_is(stack, seller, seller.sku_ids[1], (5, 0)), timeout=15)
    assert await stock(stack, seller, seller.sku_ids[0]) == (5, 0)


async def test_a_checkout_naming_a_room_of_another_merchant_is_refused(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    elsewhere = await create_room(stack, infra)  # a room selling for some other merchant
    buyer_id, client = buyer(stack)
    async with client:
        refused = await checkout(client, [{"sku_id": seller.sku_ids[0], "quantity": 1, "room_id": elsewhere.room_id}])
    assert_problem(refused, 422, "room-not-selling", "items[0].room_id")
    assert await checkouts_of(db, buyer_id) == 0
    await eventually(lambda: _stock_is(stack, seller, seller.sku_ids[0], (5, 0)), timeout=15)


async def test_a_checkout_from_the_merchants_own_room_is_placed_and_counted_for_the_room_once_paid(
    stack: Stack, infra: Infra
) -> None:
    seller = await seller_with_skus(stack, (1000, 5), (500, 5))
    room = await create_room(stack, infra, merchant_id=seller.merchant_id)
    _, client = buyer(stack)
    async with client:
        placed = await checkout(
            client,
            [
                {"sku_id": seller.sku_ids[0], "quantity": 2, "room_id": room.room_id},
                {"sku_id": seller.sku_ids[1], "quantity": 1},
            ],
        )
        assert placed.status_code == 201, placed.text
        body = placed.json()
        assert body["orders"][0]["lines"][0]["room_id"] == room.room_id
        # live vouched for the room; the line naming none says nothing of one.
        assert verified_of(body["orders"][0]) == [True, None]
        (order,) = (await client.get("/orders")).json()["items"]
        assert verified_of(order) == [True, None]
        confirmed = await client.post(
            f"/payments/{body['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code in (200, 202), confirmed.text

    async def counted() -> dict | None:
        current = await stats(stack, room)
        return current if current["paid_orders"] == 1 else None

    assert (await eventually(counted, timeout=20))["paid_amount_minor"] == 2000


async def test_a_room_live_cannot_vouch_for_is_kept_and_the_answers_say_it_is_unverified(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5), (500, 5))
    room_id = str(uuid.uuid4())  # no such room: live would refuse it, but live is not there to ask
    _, client = buyer(stack)
    items = [
        {"sku_id": seller.sku_ids[0], "quantity": 1},
        {"sku_id": seller.sku_ids[1], "quantity": 1, "room_id": room_id},
    ]
    async with client:
        async with stack.down("live"):
            placed = await checkout(client, items)
        assert placed.status_code == 201, placed.text
        body = placed.json()
        assert [line["room_id"] for line in body["orders"][0]["lines"]] == [None, room_id]
        assert verified_of(body["orders"][0]) == [None, False]
        # Every later answer says the same: the checkout, the order.
        again = (await client.get(f"/checkouts/{body['checkout_id']}")).json()
        assert verified_of(again["orders"][0]) == [None, False]
        order = (await client.get(f"/orders/{body['orders'][0]['order_id']}")).json()
        assert verified_of(order) == [None, False]


async def test_the_room_the_request_comes_from_reaches_lines_naming_no_source_and_a_room_not_selling_is_dropped(
    stack: Stack, infra: Infra
) -> None:
    # The client says where the buyer is only in W3C baggage (as on every request from a room), not in the items.
    seller = await seller_with_skus(stack, (1000, 5), (500, 5))
    room = await create_room(stack, infra, merchant_id=seller.merchant_id)
    elsewhere = await create_room(stack, infra)  # sells for some other merchant
    _, client = buyer(stack)

    async def placed_from(room_id: str) -> dict:
        response = await client.post(
            "/checkout",
            json={"items": [{"sku_id": seller.sku_ids[0], "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4()), "baggage": f"liveloop.room.id={room_id}"},
        )
        assert response.status_code == 201, response.text
        return response.json()

    async with client:
        here = await placed_from(room.room_id)
        assert here["orders"][0]["lines"][0]["room_id"] == room.room_id
        assert verified_of(here["orders"][0]) == [True]
        # The context is not the buyer's claim: a room that does not sell the product leaves the line without one.
        there = await placed_from(elsewhere.room_id)
        assert there["orders"][0]["lines"][0]["room_id"] is None
        assert verified_of(there["orders"][0]) == [None]
        confirmed = await client.post(
            f"/payments/{here['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code in (200, 202), confirmed.text

    async def counted() -> dict | None:
        current = await stats(stack, room)
        return current if current["paid_orders"] == 1 else None

    assert (await eventually(counted, timeout=20))["paid_amount_minor"] == 1000


async def _stock_is(stack: Stack, seller, sku: str, expected: tuple[int, int]) -> bool:
    return await stock(stack, seller, sku) == expected
