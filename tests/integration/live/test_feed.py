"""The room feed over SSE, on two live instances sharing one database and one NATS namespace.

Clients read real event streams (httpx streaming); changes are made over HTTP on either instance.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Any

from bench.feed_sse import SseEvent, SseParser, SseResponse
from libs.contracts import RoomFeed
from services.live.rooms.adapters.feed_hub import FeedHub, feed_hub
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


END = {"type": "http.response.body", "body": b"", "more_body": False}


def hub_of(stack: Stack, key: str) -> FeedHub:
    return feed_hub(stack.apps[key].runtime)


class Sink:
    """An ASGI `send` standing in for a viewer's connection, attached to the hub directly: it records each message,
    and while paused no send completes (a transport that does not drain)."""

    def __init__(self, *, paused: bool = False) -> None:
        self.calls: list[dict[str, Any]] = []  # every send begun
        self.done: list[dict[str, Any]] = []  # every send completed
        self.body = b""
        self.gate = asyncio.Event()
        if not paused:
            self.gate.set()

    async def __call__(self, message: dict[str, Any]) -> None:
        self.calls.append(message)
        await self.gate.wait()
        self.done.append(message)
        self.body += message["body"]

    def pause(self) -> None:
        self.gate.clear()

    def resume(self) -> None:
        self.gate.set()

    def events(self) -> list[SseEvent]:
        return SseParser().feed(self.body)


@dataclass(frozen=True)
class Snap:
    seq: int


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


async def test_a_quiet_feed_gets_a_keep_alive_every_period_beside_a_busy_one(stack: Stack, infra: Infra) -> None:
    quiet, busy = await create_room(stack, infra), await create_room(stack, infra)
    hub = hub_of(stack, "live2")
    async with (
        FeedReader(stack, quiet.room_id, key="live2") as idle,
        FeedReader(stack, busy.room_id, key="live2") as on,
    ):
        await idle.next()
        base = (await on.next()).id
        hub.keepalive_s, usual = 0.3, hub.keepalive_s
        try:
            # One timer for the hub: the quiet room's clients get a comment every period, again and again.
            assert [(e.event, e.comments) for e in [await idle.next() for _ in range(3)]] == [
                (None, ["keep-alive"])
            ] * 3
            await publish(stack, RoomFeed(room_id=busy.room_id, seq=base + 1, kind="test.1", data={"n": 1}))
            got = await on.next_of("test.1")
        finally:
            hub.keepalive_s = usual
    assert (got.id, got.data["n"]) == (base + 1, 1)


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
        stalled = Sink(paused=True)  # a viewer whose transport does not drain: no send of it completes
        hub.queue_size, usual = 1, hub.queue_size
        try:
            client = hub.subscribe(room.room_id)
        finally:
            hub.queue_size = usual
        client.ready((await state_of(stack, room))["seq"], 0)
        assert client.attach(stalled)
        for product_id in ids:
            await pin(stack, room, product_id)
        # The first pin waits in its send; the second is kept; the third is past the bound of 1: disconnected.
        await eventually(lambda: client.closed)
        heard = [await reader.next_of("pin.changed") for _ in ids]
        assert hub.clients(room.room_id) == 1
    assert [e.data["product_id"] for e in heard] == ids
    # Its response was ended (what it already had on the wire, then the end), and nothing came after the end.
    assert stalled.calls[-1] == END
    assert [m["more_body"] for m in stalled.calls].count(False) == 1
    stalled.resume()  # the send that was cut off never completes; the end does
    await eventually(lambda: stalled.done == [END])


async def test_a_viewer_that_stops_reading_is_cut_off_after_every_event_it_got_in_order(
    stack: Stack, infra: Infra
) -> None:
    room = await create_room(stack, infra)
    hub = hub_of(stack, "live")
    loop = asyncio.get_running_loop()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a phone on a bad network, say
    sock.setblocking(False)
    response = SseResponse()
    hub.backlog_bytes, usual = 256 * 1024, hub.backlog_bytes
    try:
        host, port = stack.url("live").removeprefix("http://").split(":")
        await loop.sock_connect(sock, (host, int(port)))
        await loop.sock_sendall(sock, f"GET /rooms/{room.room_id}/feed HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        got = []
        while not got:
            got = response.feed(await asyncio.wait_for(loop.sock_recv(sock, 65536), 10))
    finally:
        hub.backlog_bytes = usual
    (state,) = got
    assert state.event == "state"
    base = int(state.id)
    assert hub.clients(room.room_id) == 1

    # It stops reading. Events of 64 KiB each, until live's buffers for it fill and what waits passes 256 KiB.
    published = 0
    while hub.clients(room.room_id) == 1:
        assert published < 400, "never disconnected"
        for _ in range(8):
            published += 1
            data = {"n": published, "pad": "x" * 65536}
            await publish(stack, RoomFeed(room_id=room.room_id, seq=base + published, kind="test.big", data=data))
        await asyncio.sleep(0.05)

    # It reads again: every event up to where it was cut off, in order, then the end of the response.
    while not response.ended:
        chunk = await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 10)
        assert chunk, "the connection closed before the end of the response"
        got.extend(response.feed(chunk))
    sock.close()
    events = got[1:]
    assert 1 <= len(events) < published
    assert [int(e.id) for e in events] == list(range(base + 1, base + 1 + len(events)))
    assert [json.loads(e.data)["n"] for e in events] == list(range(1, len(events) + 1))


async def test_a_client_whose_writes_wait_now_and_then_gets_every_event_in_order(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    hub = hub_of(stack, "live2")
    sink = Sink()
    async with FeedReader(stack, room.room_id, key="live2") as reader:
        base = (await reader.next()).id
        client = hub.subscribe(room.room_id)
        client.ready(base, 0)
        assert client.attach(sink)
        n = 0
        for paused in (True, False, True, False, True, False):
            if paused:
                sink.pause()
            for _ in range(10):
                n += 1
                await publish(stack, RoomFeed(room_id=room.room_id, seq=base + n, kind="test.n", data={"n": n}))
            for _ in range(10):  # the hub wrote them to both clients at once
                await reader.next()
            if paused:
                # The first of these waits in its send, the others wait in the hub, and nothing else waits.
                assert len(sink.events()) == n - 10
                sink.resume()
        await eventually(lambda: len(sink.events()) == n)
        assert not client.closed
        client.close()
    events = sink.events()
    assert [int(e.id) for e in events] == list(range(base + 1, base + n + 1))
    assert [json.loads(e.data)["n"] for e in events] == list(range(1, n + 1))
    # What waited went out together: per paused round, the send that waited and one more (one per event: 61).
    assert len(sink.calls) <= 3 * 2 + 3 * 10 + 1
    assert sink.calls[-1] == END


async def test_joiners_share_a_state_read_only_when_it_is_new_enough_for_them(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    hub = hub_of(stack, "live")
    async with FeedReader(stack, room.room_id) as reader:
        base = (await reader.next()).id  # the room's clients have been sent everything up to `base`
        reads: list[int] = []
        release = asyncio.Event()

        async def read() -> Snap:
            # Each read's snapshot: as of `base` for the first (it started before the event below), newer after.
            reads.append(len(reads))
            await release.wait()
            return Snap(base if len(reads) == 1 else base + 1)

        early = hub.subscribe(room.room_id)
        early_state = asyncio.create_task(hub.read_state(early, read))
        await eventually(lambda: reads)
        # While that read runs, an event reaches the room's clients, then another viewer subscribes.
        await publish(stack, RoomFeed(room_id=room.room_id, seq=base + 1, kind="test.1", data={"n": 1}))
        assert (await reader.next()).id == base + 1
        late = hub.subscribe(room.room_id)
        late_state = asyncio.create_task(hub.read_state(late, read))
        more = [hub.subscribe(room.room_id) for _ in range(5)]
        more_states = [asyncio.create_task(hub.read_state(client, read)) for client in more]
        await asyncio.sleep(0.05)
        assert len(reads) == 1  # everyone waits for the one read in flight
        release.set()
        # The read in flight is too old for those that subscribed after event base + 1 reached the clients: it
        # would miss that event. They share one read started after they subscribed, which is not.
        assert (await early_state).seq == base
        assert (await late_state).seq == base + 1
        assert {(await s).seq for s in more_states} == {base + 1}
        assert len(reads) == 2
        for client in [early, late, *more]:
            client.close()


async def test_a_burst_of_viewers_each_gets_its_state_then_every_later_event_while_the_room_changes(
    stack: Stack, infra: Infra
) -> None:
    room = await live_room(stack, infra)
    ids = await bag_with(stack, room, "A", "B", "C")
    hub = hub_of(stack, "live2")
    reads_before = hub.state_reads
    viewers = 30
    stop = asyncio.Event()

    async def keep_pinning() -> int:
        pins = 0
        while not stop.is_set():
            await pin(stack, room, ids[pins % len(ids)])
            pins += 1
        return pins

    async def watch() -> tuple[int, list[FeedEvent]]:
        async with FeedReader(stack, room.room_id, key="live2") as reader:
            state = await reader.next()
            assert state.event == "state"
            await stopped.wait()
            changes: list[FeedEvent] = []
            while (changes[-1].id if changes else state.id) < final:
                changes.append(await reader.next_of("pin.changed"))
            return state.id, changes

    stopped = asyncio.Event()
    pinning = asyncio.create_task(keep_pinning())
    watching = [asyncio.create_task(watch()) for _ in range(viewers)]
    await eventually(lambda: hub.clients(room.room_id) == viewers, timeout=30)
    stop.set()
    await pinning
    final = (await state_of(stack, room))["seq"]
    stopped.set()
    for seq, changes in await asyncio.gather(*watching):
        assert [e.id for e in changes] == list(range(seq + 1, final + 1))
    assert hub.state_reads - reads_before < viewers  # shared reads


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
