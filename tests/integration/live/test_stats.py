"""Room stats: viewers per session and paid orders per room (orders' events are published by the test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from libs.contracts import OrderLine, OrderPaid
from libs.telemetry import names
from tests.harness import Infra, Stack, assert_problem, eventually, publish
from tests.integration.live.support import Room, control, create_room, join, new_id, stats

SERVICES = ("live",)


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


# --- sessions -------------------------------------------------------------------------------


async def test_each_session_counts_its_own_viewers(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    alice, bob, carol = (infra.token("buyer") for _ in range(3))
    await control(stack, room, "start")
    for viewer in (alice, bob):
        assert (await join(stack, room, viewer)).status_code == 200
    stack.clock.advance(20)
    async with stack.client("live", alice) as client:
        assert (await client.post(f"/rooms/{room.room_id}/leave")).status_code == 204
    stack.clock.advance(10)
    await control(stack, room, "end")  # bob watched 30 s, alice 20 s

    await control(stack, room, "start")
    for viewer in (carol, alice):
        assert (await join(stack, room, viewer)).status_code == 200
    stack.clock.advance(5)

    counted = await stats(stack, room)
    first, second = counted["sessions"]
    assert set(first) == {
        "session_id",
        "number",
        "started_at",
        "ended_at",
        "concurrent_viewers",
        "peak_concurrent_viewers",
        "unique_viewers",
        "views",
        "average_watch_s",
    }
    assert (first["number"], first["views"], first["unique_viewers"]) == (1, 2, 2)
    assert (first["concurrent_viewers"], first["peak_concurrent_viewers"]) == (0, 2)
    assert first["average_watch_s"] == pytest.approx(25, abs=1.5)
    assert first["ended_at"] is not None
    assert (second["number"], second["views"], second["unique_viewers"]) == (2, 2, 2)
    assert (second["concurrent_viewers"], second["peak_concurrent_viewers"]) == (2, 2)
    assert second["average_watch_s"] == pytest.approx(5, abs=1.5)
    assert second["ended_at"] is None
    # The room over all its sessions: alice came to both.
    assert {k: counted[k] for k in ("views", "unique_viewers", "concurrent_viewers")} == {
        "views": 4,
        "unique_viewers": 3,
        "concurrent_viewers": 2,
    }


async def test_a_room_never_live_has_no_sessions_and_nothing_counted(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    assert await stats(stack, room) == {
        "room_id": room.room_id,
        "views": 0,
        "unique_viewers": 0,
        "concurrent_viewers": 0,
        "paid_orders": 0,
        "paid_amount_minor": 0,
        "refunds": 0,
        "refunded_orders": 0,
        "refunded_amount_minor": 0,
        "net_amount_minor": 0,
        "currency": None,
        "vouchers_sold": 0,
        "vouchers_redeemed": 0,
        "vouchers_refunded": 0,
        "vouchers_expired": 0,
        "sessions": [],
    }


# --- paid orders ------------------------------------------------------------------------


async def test_paid_order_counts_once_even_when_delivered_twice(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    paid = order_paid(room.merchant_id, [line(2599, room.room_id), line(1000, room.room_id, quantity=2)])
    await publish(stack, paid)
    await publish(stack, paid)  # same Nats-Msg-Id: JetStream drops it
    await publish(stack, paid, msg_id=f"{paid.event_id}-republished")  # past the duplicate window: the inbox drops it
    # A later order on the same consumer: once it shows, the duplicates before it were handled.
    marker = order_paid(room.merchant_id, [line(1, room.room_id)])
    await publish(stack, marker)

    counted = await paid_orders_reach(stack, room, 2)
    assert counted["paid_orders"] == 2
    assert counted["paid_amount_minor"] == 2599 + 1000 + 1
    assert counted["currency"] == "USD"


async def test_order_with_lines_from_two_rooms_counts_in_each_with_its_own_lines(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    first, second = await create_room(stack, infra, merchant_id), await create_room(stack, infra, merchant_id)
    paid = order_paid(
        merchant_id, [line(1500, first.room_id), line(700, second.room_id), line(300, second.room_id), line(99, None)]
    )
    await publish(stack, paid)

    in_first, in_second = await paid_orders_reach(stack, first, 1), await paid_orders_reach(stack, second, 1)
    assert (in_first["paid_orders"], in_first["paid_amount_minor"]) == (1, 1500)
    assert (in_second["paid_orders"], in_second["paid_amount_minor"]) == (1, 1000)

    def counted_spans() -> set:
        return {
            s.attributes.get(names.ROOM_ID)
            for s in stack.spans.get_finished_spans()
            if s.attributes.get(names.ORDER_ID) == paid.order_id
        }

    assert await eventually(lambda: {first.room_id, second.room_id} <= counted_spans())


async def test_lines_of_unknown_or_foreign_rooms_are_not_counted(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    foreign = await create_room(stack, infra)  # another merchant's room
    paid = order_paid(
        room.merchant_id,
        [line(500, room.room_id), line(111, new_id()), line(222, "not-a-room"), line(333, foreign.room_id)],
    )
    await publish(stack, paid)
    counted = await paid_orders_reach(stack, room, 1)
    assert counted["paid_amount_minor"] == 500

    # Orders are counted in stream order: once a later order of the foreign room shows, the first was handled.
    await publish(stack, order_paid(foreign.merchant_id, [line(40, foreign.room_id)]))
    in_foreign = await paid_orders_reach(stack, foreign, 1)
    assert (in_foreign["paid_orders"], in_foreign["paid_amount_minor"]) == (1, 40)


# --- who reads stats ----------------------------------------------------------------------


async def test_stats_are_for_the_rooms_host_and_merchant_only(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    path = f"/rooms/{room.room_id}/stats"
    async with stack.client("live", room.merchant) as merchant:
        assert (await merchant.get(path)).status_code == 200
    for stranger in (infra.token("host"), infra.token("merchant", merchant_id=new_id())):
        async with stack.client("live", stranger) as client:
            response = await client.get(path)
            # Refused as every staff-only room route refuses someone else's room (here, ending it).
            ended = await client.post(f"/rooms/{room.room_id}/end")
        assert_problem(response, 403, "not-your-room")
        assert_problem(ended, 403, "not-your-room")
        same = {"instance": None, "request_id": None}
        assert response.json() | same == ended.json() | same
    async with stack.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.get(path)).status_code == 403
    async with stack.client("live") as anonymous:
        assert (await anonymous.get(path)).status_code == 401
    async with stack.client("live", room.host) as host:
        assert (await host.get(f"/rooms/{new_id()}/stats")).status_code == 404
