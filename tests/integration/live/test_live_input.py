"""Hostile or mistyped input to live answers 400 problem+json naming what is wrong, never a 500 or a silent
success, on the purchase fast lane (the purchase middleware) as on every other route."""

from __future__ import annotations

import uuid

from tests.harness import Stack, assert_problem
from tests.integration.live.support import (
    UNTHROTTLED,
    buy_once,
    new_sale,
    open_sale,
    remaining_is,
    room_selling,
    seller_with_stock,
)

SERVICES = ("shop", "live", "orders")
SETTINGS = UNTHROTTLED


async def _known_sale(stack: Stack) -> tuple[str, str]:
    """A running sale this live instance has loaded (its first purchase went through the handler)."""
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=10, per_buyer_limit=2)
    first = await buy_once(stack, room.room_id, sale["sale_id"], stack.infra.token("buyer"))
    assert first.status_code == 201, first.text
    return room.room_id, sale["sale_id"]


async def _purchase(stack: Stack, room_id: str, sale_id: str, content: bytes) -> object:
    headers = {
        "Authorization": f"Bearer {stack.infra.token('buyer')}",
        "Idempotency-Key": uuid.uuid4().hex,
        "Content-Type": "application/json",
    }
    async with stack.client("live") as client:
        return await client.post(f"/rooms/{room_id}/flash-sales/{sale_id}/purchase", content=content, headers=headers)


async def test_a_purchase_nested_too_deeply_is_refused_as_invalid_json(stack: Stack) -> None:
    room_id, sale_id = await _known_sale(stack)
    depth = 5000
    deep = b'{"quantity": 1, "x": ' + b"[" * depth + b"]" * depth + b"}"
    response = await _purchase(stack, room_id, sale_id, deep)
    assert_problem(response, 400, "invalid-json")
    assert await remaining_is(stack, room_id, sale_id, 9)


async def test_a_purchase_with_an_unknown_field_is_refused_naming_it(stack: Stack) -> None:
    room_id, sale_id = await _known_sale(stack)
    response = await _purchase(stack, room_id, sale_id, b'{"quantity": 1, "qty": 2}')
    assert_problem(response, 400, "validation-failed", field="qty")
    assert await remaining_is(stack, room_id, sale_id, 9)


async def test_a_flash_sale_with_an_unknown_term_is_refused_naming_it(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    response = await open_sale(stack, room, seller, starts_in_s=60)
    assert_problem(response, 400, "validation-failed", field="starts_in_s")
    async with stack.client("live") as client:
        assert (await client.get(f"/rooms/{room.room_id}/flash-sales")).json()["items"] == []


async def test_a_room_edit_with_an_unknown_field_changes_nothing(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller, live=False)
    async with stack.client("live", room.host) as host:
        response = await host.patch(f"/rooms/{room.room_id}", json={"title": "New", "cover": "https://x.test/a.png"})
        after = (await host.get(f"/rooms/{room.room_id}")).json()
    assert_problem(response, 400, "validation-failed", field="cover")
    assert after["title"] == room.body["title"]
