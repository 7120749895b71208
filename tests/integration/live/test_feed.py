"""The room feed over SSE, on two live instances sharing one database and one NATS namespace.

Clients read real event streams (httpx streaming); changes are made over HTTP on either instance.
"""

from __future__ import annotations

from libs.contracts import RoomFeed
from services.live.rooms.adapters.feed_hub import CLOSED, FeedHub, feed_hub
from tests.harness import PROBLEM, Infra, Stack, eventually, publish
from tests.integration.live.support import (
    FeedEvent,
    FeedReader,
    Room,
    add_when_known,
    bag_with,
    control,
    create_room,
    join,
    live_room,
    new_id,
    product_event,
)

SERVICES = ("live",)
INSTANCES = {"live2": ("live", {})}

CHANGES = ("room.started", "room.ended", "room.updated", "bag.changed", "pin.changed")


def hub_of(stack: Stack, key: str) -> FeedHub:
    return feed_hub(stack.apps[key].runtime)


async def state_of(stack: Stack, room: Room, key: str = "live") -> dict:
    async with stack.client(key) as client:
        response = await client.get(f"/rooms/{room.room_id}/state")
    assert response.status_code == 200, response.text
    return response.json()


async def pin(stack: Stack, room: Room, product_id: str | None, key: str = "live") -> None:
    async with stack.client(key, room.host) as client:
        response = await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": product_id})
    assert response.status_code == 200, response.text


async def reorder(stack: Stack, room: Room, product_ids: list[str], key: str = "live") -> None:
    async with stack.client(key, room.host) as client:
        response = await client.put(f"/rooms/{room.room_id}/bag/order", json={"product_ids": product_ids})
    assert response.status_code == 200, response.text


async def changes(reader: FeedReader, count: int) -> list[FeedEvent]:
    return [await reader.next_of(*CHANGES) for _ in range(count)]


async def test_the_first_event_is_the_rooms_state(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    shirt, _ = await bag_with(stack, room, "Shirt", "Hat")
    await pin(stack, room, shirt)
    assert (await join(stack, room, infra.token("buyer"))).status_code == 200

    async with FeedReader(stack, room.room_id, key="live2") as reader:
        assert reader.response.headers["content-type"].startswith("text/event-stream")
        assert reader.response.headers["cache-control"] == "no-cache"
        first = await reader.next()
    state = await state_of(stack, room)
    assert (first.event, first.id) == ("state", state["seq"])
    assert first.data == state
    assert state["room"]["status"] == "live"
    pinned = state["pinned"]
    assert (pinned["product_id"], pinned["title"], pinned["pinned"]) == (shirt, "Shirt", True)
    assert state["concurrent_viewers"] == 1
    assert isinstance(state["sales"], list)
    assert isinstance(state["coupon_drops"], list)


async def test_clients_of_both_instances_see_every_change_in_order(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    shirt, hat = product_event(room.merchant_id, title="Shirt"), product_event(room.merchant_id, title="Hat")
    await publish(stack, shirt)
    await publish(stack, hat)

    async with FeedReader(stack, room.room_id, key="live") as one, FeedReader(stack, room.room_id, key="live2") as two:
        states = [await one.next(), await two.next()]
        assert {(s.event, s.data["room"]["status"]) for s in states} == {("state", "scheduled")}
        start_seq = states[0].id

        # Changes made on either instance, alternately.
        await control(stack, room, "start", key="live")
        await add_when_known(stack, room.host, room.room_id, shirt.product_id, key="live2")
        await add_when_known(stack, room.host, room.room_id, hat.product_id, key="live")
        await pin(stack, room, shirt.product_id, key="live2")
        await reorder(stack, room, [hat.product_id, shirt.product_id], key="live")
        await pin(stack, room, None, key="live2")
        await control(stack, room, "end", key="live")

        seen_one, seen_two = await changes(one, 7), await changes(two, 7)

    assert [(e.event, e.id, e.data) for e in seen_one] == [(e.event, e.id, e.data) for e in seen_two]
    assert [e.event for e in seen_one] == [
        "room.started",
        "bag.changed",
        "bag.changed",
        "pin.changed",
        "bag.changed",
        "pin.changed",
        "room.ended",
    ]
    assert [e.id for e in seen_one] == list(range(start_seq + 1, start_seq + 8))
    assert all(e.data["seq"] == e.id and e.data["room_id"] == room.room_id for e in seen_one)
    started, added_shirt, added_hat, pinned, reordered, unpinned, ended = (e.data for e in seen_one)
    assert started["session_id"] == ended["session_id"]
    assert added_shirt["product_ids"] == [shirt.product_id]
    assert added_hat["product_ids"] == [shirt.product_id, hat.product_id]
    assert (pinned["product_id"], pinned["product"]["title"]) == (shirt.product_id, "Shirt")
    assert reordered["product_ids"] == [hat.product_id, shirt.product_id]
    assert (unpinned["product_id"], unpinned["product"]) == (None, None)


async def test_a_reconnecting_client_gets_a_fresh_state_then_only_newer_events(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    shirt, hat = await bag_with(stack, room, "Shirt", "Hat")
    async with FeedReader(stack, room.room_id, key="live2") as reader:
        await reader.next()
        await pin(stack, room, shirt)
        pinned = await reader.next_of("pin.changed")

    await pin(stack, room, hat)  # while the client is away
    async with FeedReader(stack, room.room_id, key="live2") as reader:
        state = await reader.next()
        assert (state.event, state.id) == ("state", pinned.id + 1)
        assert state.data["pinned"]["product_id"] == hat
        await reorder(stack, room, [hat, shirt])
        after = await reader.next_of(*CHANGES)
    assert (after.event, after.id) == ("bag.changed", pinned.id + 2)


async def test_a_client_hears_only_its_own_room(stack: Stack, infra: Infra) -> None:
    watched, other = await live_room(stack, infra), await live_room(stack, infra)
    (mine,) = await bag_with(stack, watched, "Mine")
    (theirs,) = await bag_with(stack, other, "Theirs")
    async with FeedReader(stack, watched.room_id) as reader:
        await reader.next()
        await pin(stack, other, theirs)
        await pin(stack, watched, mine)
        heard = await reader.next_of(*CHANGES)
    assert (heard.event, heard.data["product_id"], heard.data["room_id"]) == ("pin.changed", mine, watched.room_id)


async def test_viewer_counts_are_sent_when_they_change(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    alice, bob = infra.token("buyer"), infra.token("buyer")
    async with FeedReader(stack, room.room_id, key="live2") as reader:
        assert (await reader.next()).data["concurrent_viewers"] == 0
        await join(stack, room, alice)
        first = await reader.next_of("viewers")
        async with stack.client("live2", bob) as client:
            assert (await client.post(f"/rooms/{room.room_id}/join")).status_code == 200
        second = await reader.next_of("viewers")
        async with stack.client("live", alice) as client:
            assert (await client.post(f"/rooms/{room.room_id}/leave")).status_code == 204
        third = await reader.next_of("viewers")
    assert [e.data["concurrent_viewers"] for e in (first, second, third)] == [1, 2, 1]
    assert {e.id for e in (first, second, third)} == {None}  # not from the outbox: no place in the seq order
    assert {e.data["room_id"] for e in (first, second, third)} == {room.room_id}


async def test_an_idle_feed_sends_keep_alive_comments(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    hub = hub_of(stack, "live2")
    hub.keepalive_s, usual = 0.2, hub.keepalive_s
    try:
        async with FeedReader(stack, room.room_id, key="live2") as reader:
            await reader.next()
            idle = await reader.next()
    finally:
        hub.keepalive_s = usual
    assert (idle.event, idle.comments) == (None, ["keep-alive"])


async def test_a_client_that_goes_away_is_unsubscribed(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    hub = hub_of(stack, "live")
    async with FeedReader(stack, room.room_id) as reader:
        await reader.next()
        assert hub.clients(room.room_id) == 1
    await eventually(lambda: hub.clients(room.room_id) == 0)


async def test_a_client_too_slow_to_keep_up_is_disconnected_and_others_are_not(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    ids = await bag_with(stack, room, "A", "B", "C")
    hub = hub_of(stack, "live")
    async with FeedReader(stack, room.room_id) as reader:
        await reader.next()
        hub.queue_size, usual = 2, hub.queue_size
        try:
            stalled = hub.subscribe(room.room_id)  # a client that never reads
        finally:
            hub.queue_size = usual
        stalled.ready((await state_of(stack, room))["seq"], 0)
        for product_id in ids:
            await pin(stack, room, product_id)
        await eventually(lambda: stalled.closed)
        assert await stalled.next(1) is CLOSED
        heard = [await reader.next_of("pin.changed") for _ in ids]
        assert hub.clients(room.room_id) == 1
    assert [e.data["product_id"] for e in heard] == ids


async def test_events_are_delivered_in_seq_order_whatever_order_the_bus_brings_them(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)

    def event(seq: int) -> RoomFeed:
        return RoomFeed(room_id=room.room_id, seq=seq, kind=f"test.{seq}", data={"n": seq})

    async with FeedReader(stack, room.room_id, key="live2") as reader:
        base = (await reader.next()).id
        # As two relays could publish them: the later event first.
        await publish(stack, event(base + 2))
        await publish(stack, event(base + 1))
        # A missing seq is waited for (about a second), then skipped; when it turns up later it is dropped.
        await publish(stack, event(base + 4))
        got = [await reader.next() for _ in range(3)]
        await publish(stack, event(base + 3))
        await publish(stack, event(base + 5))
        got.append(await reader.next())
    assert [(e.event, e.id, e.data["n"]) for e in got] == [
        (f"test.{seq}", seq, seq) for seq in (base + 1, base + 2, base + 4, base + 5)
    ]


async def test_listeners_hear_every_event_of_every_room_in_order(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    # Its room.started may still be on its way: what the listener must hear comes after it.
    base = (await state_of(stack, room))["seq"]
    heard: list[tuple[int, str]] = []

    async def listener(event: RoomFeed) -> None:
        if event.room_id == room.room_id and event.seq > base:
            heard.append((event.seq, event.kind))

    hub = hub_of(stack, "live2")  # no client of the room there; the changes are made on the other instance
    hub.add_listener(listener)
    try:
        a, b = await bag_with(stack, room, "A", "B")
        await pin(stack, room, a)
        await reorder(stack, room, [b, a])
        await control(stack, room, "end")
        await eventually(lambda: len(heard) >= 5)
    finally:
        hub.remove_listener(listener)
    kinds = ["bag.changed", "bag.changed", "pin.changed", "bag.changed", "room.ended"]
    assert [kind for _, kind in heard] == kinds
    assert [seq for seq, _ in heard] == list(range(base + 1, base + 6))


async def test_feed_and_state_of_an_unknown_room_are_404(stack: Stack) -> None:
    async with stack.client("live") as client:
        for room_id in (new_id(), "not-a-room"):
            for path in (f"/rooms/{room_id}/feed", f"/rooms/{room_id}/state"):
                response = await client.get(path)
                assert response.status_code == 404, path
                assert response.json()["type"] == PROBLEM + "not-found"


async def test_room_edits_reach_the_feed(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    async with FeedReader(stack, room.room_id, key="live2") as reader:
        await reader.next()
        async with stack.client("live", room.host) as host:
            response = await host.patch(f"/rooms/{room.room_id}", json={"title": "Autumn drop"})
        assert response.status_code == 200, response.text
        updated = await reader.next_of(*CHANGES)
    assert updated.event == "room.updated"
    assert (updated.data["title"], updated.data["cover_url"]) == ("Autumn drop", None)
