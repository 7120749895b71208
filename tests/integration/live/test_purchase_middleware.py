"""The purchase middleware answers exactly what the handler answers: status, body and headers.

An instance serves the first purchase of a sale it has not loaded through the handler (which loads it) and
every later one through the purchase middleware (flash_sales/api/purchases.py). So the same request asked twice
of an instance that has not seen the sale is answered once by each.
"""

from __future__ import annotations

import uuid

import httpx

from tests.harness import PROBLEM, Stack
from tests.integration.live.support import UNTHROTTLED, buy_once, new_sale, room_selling, seller_with_stock

# `fresh` lets each buyer ask twice; after that its bucket stays empty for the rest of the module.
BURST = 2

SERVICES = ("shop", "live", "orders")
SETTINGS = UNTHROTTLED
INSTANCES = {"fresh": ("live", {"purchase_burst": BURST, "purchase_rate_per_s": 0.01})}


async def ask(client: httpx.AsyncClient, room_id: str, sale_id: str, token: str, key: str) -> httpx.Response:
    return await client.post(
        f"/rooms/{room_id}/flash-sales/{sale_id}/purchase",
        json={"quantity": 1},
        # One request id for both asks, so that their problem bodies can be compared whole.
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key, "X-Request-ID": "same-request"},
    )


async def handler_then_middleware(stack: Stack, room_id: str, sale_id: str, token: str, key: str):
    async with stack.client("fresh") as client:
        return [await ask(client, room_id, sale_id, token, key) for _ in range(2)]


def assert_same(by_handler: httpx.Response, by_middleware: httpx.Response, **differing: object) -> dict:
    assert by_middleware.status_code == by_handler.status_code
    for header in ("content-type", "retry-after"):
        assert by_middleware.headers.get(header) == by_handler.headers.get(header), header
    body = by_handler.json()
    assert by_middleware.json() == {**body, **differing}
    return body


async def test_an_admitted_purchase_replayed(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=10, per_buyer_limit=1)
    buyer = stack.infra.token("buyer")
    first = await buy_once(stack, room.room_id, sale["sale_id"], buyer, key="mine")
    assert first.status_code == 201, first.text
    handler, by_middleware = await handler_then_middleware(stack, room.room_id, sale["sale_id"], buyer, "mine")
    assert handler.status_code == 201, handler.text
    assert assert_same(handler, by_middleware) == first.json()


async def test_a_buyer_past_the_limit(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=10, per_buyer_limit=1)
    buyer = stack.infra.token("buyer")
    assert (await buy_once(stack, room.room_id, sale["sale_id"], buyer)).status_code == 201
    handler, by_middleware = await handler_then_middleware(stack, room.room_id, sale["sale_id"], buyer, "another")
    assert handler.status_code == 409
    assert handler.headers["content-type"].startswith("application/problem+json")
    assert assert_same(handler, by_middleware)["type"] == PROBLEM + "limit-reached"


async def test_a_sold_out_sale(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=1, per_buyer_limit=1)
    assert (await buy_once(stack, room.room_id, sale["sale_id"], stack.infra.token("buyer"))).status_code == 201
    late = stack.infra.token("buyer")
    handler, by_middleware = await handler_then_middleware(stack, room.room_id, sale["sale_id"], late, "late")
    assert handler.status_code == 409
    assert assert_same(handler, by_middleware)["type"] == PROBLEM + "sold-out"


async def test_a_throttled_buyer(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=10, per_buyer_limit=1)
    buyer = stack.infra.token("buyer")
    # The buyer's whole burst: the sale is loaded on `fresh` now, its bucket empty.
    spent = await handler_then_middleware(stack, room.room_id, sale["sale_id"], buyer, "mine")
    assert [r.status_code for r in spent] == [201] * BURST
    async with stack.client("fresh") as client:
        # A sale `fresh` has not loaded goes to the handler, whose guard refuses before looking the sale up.
        unknown_sale = str(uuid.uuid4())
        handler = await ask(client, room.room_id, unknown_sale, buyer, "other")
        by_middleware = await ask(client, room.room_id, sale["sale_id"], buyer, "mine")
    assert handler.status_code == 429
    assert int(handler.headers["retry-after"]) >= 1
    instance = f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/purchase"
    body = assert_same(handler, by_middleware, instance=instance)
    assert body["type"] == PROBLEM + "too-many-requests"
    assert body["instance"] == f"/rooms/{room.room_id}/flash-sales/{unknown_sale}/purchase"
