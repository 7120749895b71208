"""Views and per-room paid orders, against real Postgres and NATS; orders' events are published by the test."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio

from libs.contracts import OrderLine, OrderPaid
from libs.telemetry import names
from tests.harness import Infra, Stack, eventually, publish

PROBLEM = "https://liveloop.dev/problems/"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(infra: Infra) -> AsyncIterator[Stack]:
    st = await Stack(infra).start("live")
    yield st
    await st.stop()


def new_id() -> str:
    return str(uuid.uuid4())


class Room:
    """A room created over HTTP, with the tokens of its host and its merchant."""

    def __init__(self, room_id: str, merchant_id: str, host: str, merchant: str) -> None:
        self.room_id, self.merchant_id, self.host, self.merchant = room_id, merchant_id, host, merchant


async def create_room(stack: Stack, infra: Infra, merchant_id: str | None = None) -> Room:
    merchant_id = merchant_id or new_id()
    host = infra.token("host", merchant_id=merchant_id)
    async with stack.client("live", host) as client:
        response = await client.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id})
    assert response.status_code == 201, response.text
    return Room(response.json()["room_id"], merchant_id, host, infra.token("merchant", merchant_id=merchant_id))


async def stats(stack: Stack, room: Room) -> dict:
    async with stack.client("live", room.host) as client:
        response = await client.get(f"/rooms/{room.room_id}/stats")
    assert response.status_code == 200, response.text
    return response.json()


def line(amount_minor: int, room_id: str | None, quantity: int = 1) -> OrderLine:
    return OrderLine(
        sku_id=new_id(),
        product_id=new_id(),
        title="Linen Shirt",
        sku_name="M",
        quantity=quantity,
        unit_price_minor=amount_minor // quantity,
        amount_minor=amount_minor,
        room_id=room_id,
    )


def order_paid(merchant_id: str, lines: list[OrderLine], currency: str = "USD") -> OrderPaid:
    return OrderPaid(
        order_id=new_id(),
        checkout_id=new_id(),
        payment_id=new_id(),
        buyer_id=f"buyer-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        lines=lines,
        amount_minor=sum(x.amount_minor for x in lines),
        currency=currency,
        paid_at=datetime.now(UTC),
    )


async def paid_orders_reach(stack: Stack, room: Room, count: int) -> dict:
    async def check() -> dict | None:
        current = await stats(stack, room)
        return current if current["paid_orders"] >= count else None

    return await eventually(check)


# --- views --------------------------------------------------------------------------------


async def test_joins_count_views_and_unique_viewers(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    alice, bob = infra.token("buyer"), infra.token("buyer")
    for token in (alice, bob, alice):
        async with live.client("live", token) as client:
            joined = await client.post(f"/rooms/{room.room_id}/join")
        assert joined.status_code == 200, joined.text
        assert joined.json()["room_id"] == room.room_id
        assert set(joined.json()) == {"room_id", "viewer_id", "joined_at"}

    assert await stats(live, room) == {
        "room_id": room.room_id,
        "views": 3,
        "unique_viewers": 2,
        "paid_orders": 0,
        "paid_amount_minor": 0,
        "currency": None,
    }


async def test_simultaneous_joins_of_one_viewer_make_one_unique_viewer(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    viewer = infra.token("buyer")
    async with live.client("live", viewer) as client:
        answers = await asyncio.gather(*(client.post(f"/rooms/{room.room_id}/join") for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    counted = await stats(live, room)
    assert (counted["views"], counted["unique_viewers"]) == (20, 1)


async def test_join_is_attributed_to_the_room_in_traces(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    async with live.client("live", infra.token("buyer")) as client:
        assert (await client.post(f"/rooms/{room.room_id}/join")).status_code == 200

    def join_spans() -> list:
        return [
            s
            for s in live.spans.get_finished_spans()
            if s.attributes.get(names.ROOM_ID) == room.room_id and "join" in (s.attributes.get("http.route") or s.name)
        ]

    assert await eventually(join_spans)


async def test_retried_join_with_the_same_key_counts_once(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    async with live.client("live", infra.token("buyer")) as client:
        first = await client.post(f"/rooms/{room.room_id}/join", headers=headers)
        again = await client.post(f"/rooms/{room.room_id}/join", headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert (await stats(live, room))["views"] == 1


async def test_only_buyers_join_known_rooms(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    async with live.client("live") as anonymous:
        assert (await anonymous.post(f"/rooms/{room.room_id}/join")).status_code == 401
    async with live.client("live", room.host) as host:
        assert (await host.post(f"/rooms/{room.room_id}/join")).status_code == 403
    async with live.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.post(f"/rooms/{new_id()}/join")).status_code == 404
        assert (await buyer.post("/rooms/nope/join")).status_code == 404
    assert (await stats(live, room))["views"] == 0


# --- paid orders ------------------------------------------------------------------------


async def test_paid_order_counts_once_even_when_delivered_twice(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    paid = order_paid(room.merchant_id, [line(2599, room.room_id), line(1000, room.room_id, quantity=2)])
    await publish(live, paid)
    await publish(live, paid)  # same Nats-Msg-Id: JetStream drops it
    await publish(live, paid, msg_id=f"{paid.event_id}-republished")  # past the duplicate window: the inbox drops it
    # A later order on the same consumer: once it shows, the duplicates before it were handled.
    marker = order_paid(room.merchant_id, [line(1, room.room_id)])
    await publish(live, marker)

    counted = await paid_orders_reach(live, room, 2)
    assert counted["paid_orders"] == 2
    assert counted["paid_amount_minor"] == 2599 + 1000 + 1
    assert counted["currency"] == "USD"


async def test_order_with_lines_from_two_rooms_counts_in_each_with_its_own_lines(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    first, second = await create_room(live, infra, merchant_id), await create_room(live, infra, merchant_id)
    paid = order_paid(
        merchant_id, [line(1500, first.room_id), line(700, second.room_id), line(300, second.room_id), line(99, None)]
    )
    await publish(live, paid)

    in_first, in_second = await paid_orders_reach(live, first, 1), await paid_orders_reach(live, second, 1)
    assert (in_first["paid_orders"], in_first["paid_amount_minor"]) == (1, 1500)
    assert (in_second["paid_orders"], in_second["paid_amount_minor"]) == (1, 1000)

    def counted_spans() -> set:
        return {
            s.attributes.get(names.ROOM_ID)
            for s in live.spans.get_finished_spans()
            if s.attributes.get(names.ORDER_ID) == paid.order_id
        }

    assert await eventually(lambda: {first.room_id, second.room_id} <= counted_spans())


async def test_lines_of_unknown_or_foreign_rooms_are_not_counted(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    foreign = await create_room(live, infra)  # another merchant's room
    paid = order_paid(
        room.merchant_id,
        [line(500, room.room_id), line(111, new_id()), line(222, "not-a-room"), line(333, foreign.room_id)],
    )
    await publish(live, paid)
    counted = await paid_orders_reach(live, room, 1)
    assert counted["paid_amount_minor"] == 500

    # Orders are counted in stream order: once a later order of the foreign room shows, the first was handled.
    await publish(live, order_paid(foreign.merchant_id, [line(40, foreign.room_id)]))
    in_foreign = await paid_orders_reach(live, foreign, 1)
    assert (in_foreign["paid_orders"], in_foreign["paid_amount_minor"]) == (1, 40)


# --- who reads stats ----------------------------------------------------------------------


async def test_stats_are_for_the_rooms_host_and_merchant_only(live: Stack, infra: Infra) -> None:
    room = await create_room(live, infra)
    path = f"/rooms/{room.room_id}/stats"
    async with live.client("live", room.merchant) as merchant:
        assert (await merchant.get(path)).status_code == 200
    for stranger in (infra.token("host"), infra.token("merchant", merchant_id=new_id())):
        async with live.client("live", stranger) as client:
            response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["type"] == PROBLEM + "not-found"
    async with live.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.get(path)).status_code == 403
    async with live.client("live") as anonymous:
        assert (await anonymous.get(path)).status_code == 401
    async with live.client("live", room.host) as host:
        assert (await host.get(f"/rooms/{new_id()}/stats")).status_code == 404
