"""The purchase fast lane answers exactly what the handler answers: status, body and headers.

An instance serves the first purchase of a sale it has not loaded through the handler (which loads it) and
every later one through the fast lane (sales/fastlane.py). So the same request asked twice of an instance
that has not seen the sale is answered once by each.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from tests.harness import Infra, Stack
from tests.integration.flash_sales_support import UNTHROTTLED, buy_once, new_sale, room_selling, seller_with_stock
from tests.integration.live_support import PROBLEM

# `fresh` lets each buyer ask twice; after that its bucket stays empty for the rest of the module.
BURST = 2


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def sales(infra: Infra) -> AsyncIterator[Stack]:
    stack = await Stack(infra).start("shop", "live", "orders", **UNTHROTTLED)
    await stack.start_instance("live", "fresh", purchase_burst=BURST, purchase_rate_per_s=0.01)
    yield stack
    await stack.stop()


async def ask(client: httpx.AsyncClient, room_id: str, sale_id: str, token: str, key: str) -> httpx.Response:
    return await client.post(
        f"/rooms/{room_id}/flash-sales/{sale_id}/purchase",
        json={"quantity": 1},
        # One request id for both asks, so that their problem bodies can be compared whole.
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key, "X-Request-ID": "same-request"},
    )


async def handler_then_fast_lane(stack: Stack, room_id: str, sale_id: str, token: str, key: str):
    async with stack.client("fresh") as client:
        return [await ask(client, room_id, sale_id, token, key) for _ in range(2)]


def assert_same(by_handler: httpx.Response, by_fast_lane: httpx.Response, **differing: object) -> dict:
    assert by_fast_lane.status_code == by_handler.status_code
    for header in ("content-type", "retry-after"):
        assert by_fast_lane.headers.get(header) == by_handler.headers.get(header), header
    body = by_handler.json()
    assert by_fast_lane.json() == {**body, **differing}
    return body


async def test_an_admitted_purchase_replayed(sales: Stack) -> None:
    seller = await seller_with_stock(sales, 50)
    room = await room_selling(sales, seller)
    sale = await new_sale(sales, room, seller, quantity=10, per_buyer_limit=1)
    buyer = sales.infra.token("buyer")
    first = await buy_once(sales, room.room_id, sale["sale_id"], buyer, key="mine")
    assert first.status_code == 201, first.text
    handler, fast = await handler_then_fast_lane(sales, room.room_id, sale["sale_id"], buyer, "mine")
    assert handler.status_code == 201, handler.text
    assert assert_same(handler, fast) == first.json()


async def test_a_buyer_past_the_limit(sales: Stack) -> None:
    seller = await seller_with_stock(sales, 50)
    room = await room_selling(sales, seller)
    sale = await new_sale(sales, room, seller, quantity=10, per_buyer_limit=1)
    buyer = sales.infra.token("buyer")
    assert (await buy_once(sales, room.room_id, sale["sale_id"], buyer)).status_code == 201
    handler, fast = await handler_then_fast_lane(sales, room.room_id, sale["sale_id"], buyer, "another")
    assert handler.status_code == 409
    assert handler.headers["content-type"].startswith("application/problem+json")
    assert assert_same(handler, fast)["type"] == PROBLEM + "limit-reached"


async def test_a_sold_out_sale(sales: Stack) -> None:
    seller = await seller_with_stock(sales, 50)
    room = await room_selling(sales, seller)
    sale = await new_sale(sales, room, seller, quantity=1, per_buyer_limit=1)
    assert (await buy_once(sales, room.room_id, sale["sale_id"], sales.infra.token("buyer"))).status_code == 201
    late = sales.infra.token("buyer")
    handler, fast = await handler_then_fast_lane(sales, room.room_id, sale["sale_id"], late, "late")
    assert handler.status_code == 409
    assert assert_same(handler, fast)["type"] == PROBLEM + "sold-out"


async def test_a_throttled_buyer(sales: Stack) -> None:
    seller = await seller_with_stock(sales, 50)
    room = await room_selling(sales, seller)
    sale = await new_sale(sales, room, seller, quantity=10, per_buyer_limit=1)
    buyer = sales.infra.token("buyer")
    # The buyer's whole burst: the sale is loaded on `fresh` now, its bucket empty.
    spent = await handler_then_fast_lane(sales, room.room_id, sale["sale_id"], buyer, "mine")
    assert [r.status_code for r in spent] == [201] * BURST
    async with sales.client("fresh") as client:
        # A sale `fresh` has not loaded goes to the handler, whose guard refuses before looking the sale up.
        unknown_sale = str(uuid.uuid4())
        handler = await ask(client, room.room_id, unknown_sale, buyer, "other")
        fast = await ask(client, room.room_id, sale["sale_id"], buyer, "mine")
    assert handler.status_code == 429
    assert int(handler.headers["retry-after"]) >= 1
    instance = f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/purchase"
    body = assert_same(handler, fast, instance=instance)
    assert body["type"] == PROBLEM + "too-many-requests"
    assert body["instance"] == f"/rooms/{room.room_id}/flash-sales/{unknown_sale}/purchase"
