"""Client taps (`POST /funnel/events`): checked against live's rooms and videos, filled in from live's tables, published
as one FunnelTapped on JetStream (a re-sent batch once); a bad event refuses the batch naming `events[i]`; one token's
batches are throttled.

Real Postgres and NATS; products and deals reach live as shop's and local_life's events, and the published batches are
read back from JetStream as the funnel's consumer receives them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec

from libs.contracts import DealPublished, FunnelTapped
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.live.support import Room, bag_with, control, create_room, live_room, new_id, product_event

SERVICES = ("live",)
# A slow refill, so a burst past `funnel_tap_burst` (20) is refused however slowly this machine sends it.
SETTINGS = {"funnel_tap_rate_per_s": 0.2}


def viewer(stack: Stack) -> tuple[str, str]:
    """(a buyer's sub, its token)."""
    sub = f"viewer-{uuid.uuid4().hex[:10]}"
    return sub, stack.infra.token("buyer", sub=sub)


async def post_events(stack: Stack, token: str | None, events: list[dict[str, Any]]) -> httpx.Response:
    async with stack.client("live", token) as client:
        return await client.post("/funnel/events", json={"events": events})


async def tapped(stack: Stack, viewer_id: str, *, headers: dict[str, dict] | None = None) -> list[FunnelTapped]:
    """The FunnelTapped batches of one viewer on JetStream (their headers into `headers`, by event id)."""
    bus = stack.apps["live"].runtime.bus
    sub = await bus.js.pull_subscribe(bus.subject(FunnelTapped.SUBJECT), stream=bus.stream("LIVE"))
    found: list[FunnelTapped] = []
    try:
        while True:
            try:
                messages = await sub.fetch(1000, timeout=0.3)
            except TimeoutError:
                break
            for message in messages:
                event = msgspec.json.decode(message.data, type=FunnelTapped)
                if any(t.viewer_id == viewer_id for t in event.taps):
                    found.append(event)
                    if headers is not None:
                        headers[event.event_id] = message.headers or {}
                await message.ack()
    finally:
        await sub.unsubscribe()
    return found


def at(stack: Stack, seconds_ago: float = 0) -> str:
    """A moment by the stack's clock (live's now)."""
    return (stack.clock.now() - timedelta(seconds=seconds_ago)).isoformat()


async def deal_in_bag(stack: Stack, room: Room) -> str:
    event = DealPublished(
        deal_id=new_id(),
        merchant_id=room.merchant_id,
        title="Hotpot for two",
        price_minor=8800,
        original_value_minor=12800,
        currency="USD",
        vouchers_per_purchase=1,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )
    await publish(stack, event)

    async def added() -> bool:
        async with stack.client("live", room.host) as client:
            response = await client.post(f"/rooms/{room.room_id}/bag", json={"deal_id": event.deal_id})
        assert response.status_code in (201, 409), response.text
        return response.status_code == 201

    await eventually(added)
    return event.deal_id


async def video_of(stack: Stack, room: Room, product_id: str) -> dict[str, Any]:
    """A video by the room's host anchoring the product (once live knows it)."""

    async def published() -> dict[str, Any] | None:
        async with stack.client("live", room.host) as client:
            response = await client.post(
                "/videos",
                json={
                    "title": "How to tie a linen shirt",
                    "media_url": "https://cdn.example/v/1.mp4",
                    "duration_s": 42.5,
                    "anchors": [{"product_id": product_id}],
                },
            )
        if response.status_code == 422:
            return None
        assert response.status_code == 201, response.text
        return response.json()

    return await eventually(published)


async def session_of(stack: Stack, room: Room) -> str:
    async with stack.client("live", room.host) as client:
        response = await client.get(f"/rooms/{room.room_id}/stats")
    return response.json()["sessions"][-1]["session_id"]


async def test_a_batch_is_published_once_filled_in_from_lives_tables(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    shirt, scarf = await bag_with(stack, room, "Linen Shirt", "Scarf")
    deal_id = await deal_in_bag(stack, room)
    async with stack.client("live", room.host) as client:
        assert (await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": scarf})).status_code == 200
    video = await video_of(stack, room, shirt)
    session_id = await session_of(stack, room)
    sub, token = viewer(stack)
    play_id = uuid.uuid4().hex
    now = at(stack)
    events = [
        {"kind": "impression", "at": now, "room_id": room.room_id, "product_id": shirt, "surface": "bag"},
        {"kind": "impression", "at": now, "room_id": room.room_id, "deal_id": deal_id, "surface": "bag"},
        {"kind": "click", "at": now, "room_id": room.room_id, "product_id": scarf, "surface": "pinned"},
        {"kind": "click", "at": now, "room_id": room.room_id, "product_id": scarf, "surface": "pinned"},  # a repeat
        {
            "kind": "video_play",
            "at": now,
            "video_id": video["video_id"],
            "play_id": play_id,
            "watch_s": 31.5,
            "completed": False,
        },
        {"kind": "anchor_click", "at": now, "video_id": video["video_id"], "product_id": shirt},
    ]
    response = await post_events(stack, token, events)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 5}

    headers: dict[str, dict] = {}
    (batch,) = await tapped(stack, sub, headers=headers)
    # The request's trace goes along (its publish span is the parent the funnel's consumer continues from).
    trace_id = int(headers[batch.event_id]["traceparent"].split("-")[1], 16)
    assert any(
        s.context.trace_id == trace_id and s.name == f"{FunnelTapped.SUBJECT} publish"
        for s in stack.spans.get_finished_spans()
    )
    assert any(s.context.trace_id == trace_id and "/funnel/events" in s.name for s in stack.spans.get_finished_spans())
    by_kind = {(t.kind, t.product_id or t.deal_id): t for t in batch.taps}
    assert len(batch.taps) == 5
    minute = datetime.fromisoformat(now).strftime("%Y-%m-%dT%H:%MZ")
    for kind, item, surface in (
        ("impression", shirt, "bag"),
        ("impression", deal_id, "bag"),
        ("click", scarf, "pinned"),
    ):
        tap = by_kind[(kind, item)]
        assert (tap.room_id, tap.session_id, tap.surface) == (room.room_id, session_id, surface)
        assert (tap.host_id, tap.merchant_id, tap.viewer_id) == (room.body["host_id"], room.merchant_id, sub)
        assert tap.fact_key == f"{kind}:{sub}:{item}:{minute}"
        assert tap.video_id is None
    play = by_kind[("video_play", None)]
    assert (play.video_id, play.watch_s, play.completed, play.room_id) == (video["video_id"], 31.5, False, None)
    assert (play.host_id, play.merchant_id) == (video["host_id"], video["merchant_id"])
    assert play.fact_key == f"video_play:{sub}:{play_id}"
    anchor = by_kind[("anchor_click", shirt)]
    assert (anchor.video_id, anchor.fact_key) == (video["video_id"], f"anchor_click:{sub}:{shirt}:{minute}")


async def test_a_resent_batch_is_published_once(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    (shirt,) = await bag_with(stack, room, "Linen Shirt")
    sub, token = viewer(stack)
    now = at(stack)
    impression = {"kind": "impression", "at": now, "room_id": room.room_id, "product_id": shirt, "surface": "bag"}
    click = {"kind": "click", "at": now, "room_id": room.room_id, "product_id": shirt, "surface": "bag"}
    answers = [await post_events(stack, token, [impression, click]) for _ in range(2)]
    answers.append(await post_events(stack, token, [click, impression]))  # the same facts, in another order
    concurrent = await asyncio.gather(*(post_events(stack, token, [impression, click]) for _ in range(3)))
    assert [a.status_code for a in [*answers, *concurrent]] == [202] * 6
    (batch,) = await tapped(stack, sub)
    assert sorted(t.kind for t in batch.taps) == ["click", "impression"]

    # A new fact makes a new batch (a click a minute earlier is another fact).
    earlier = {**click, "at": (datetime.fromisoformat(now) - timedelta(minutes=1)).isoformat()}
    assert (await post_events(stack, token, [impression, earlier])).status_code == 202
    assert len(await tapped(stack, sub)) == 2


async def test_each_refused_event_names_its_place_and_nothing_is_published(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    (shirt,) = await bag_with(stack, room, "Linen Shirt")
    other_room = await live_room(stack, stack.infra)
    (elsewhere,) = await bag_with(stack, other_room, "Wool Coat")
    scheduled = await create_room(stack, stack.infra, merchant_id=room.merchant_id)
    ended = await live_room(stack, stack.infra, merchant_id=room.merchant_id)
    await control(stack, ended, "end")
    unanchored = product_event(room.merchant_id).product_id
    video = await video_of(stack, room, shirt)
    good = {"kind": "impression", "at": at(stack), "room_id": room.room_id, "product_id": shirt, "surface": "bag"}
    click = {"kind": "click", "at": at(stack), "product_id": shirt, "surface": "bag"}
    play = {"kind": "video_play", "at": at(stack), "video_id": video["video_id"], "play_id": "p1", "watch_s": 3}
    anchor = {"kind": "anchor_click", "at": at(stack), "video_id": video["video_id"]}
    refused = [
        ({**click, "room_id": new_id()}, "tap-unknown-room"),
        ({**click, "room_id": "nope"}, "tap-unknown-room"),
        ({**click, "room_id": scheduled.room_id}, "tap-room-not-live"),
        ({**click, "room_id": ended.room_id}, "tap-room-not-live"),
        ({**click, "room_id": room.room_id, "product_id": elsewhere}, "tap-not-in-room"),
        ({**click, "room_id": other_room.room_id}, "tap-not-in-room"),
        ({**click, "room_id": room.room_id, "product_id": None, "deal_id": new_id()}, "tap-not-in-room"),
        ({**click, "room_id": room.room_id, "deal_id": new_id()}, "tap-incomplete"),
        ({**click, "room_id": room.room_id, "surface": None}, "tap-incomplete"),
        ({**click, "room_id": room.room_id, "video_id": video["video_id"]}, "tap-incomplete"),
        ({**click, "room_id": room.room_id, "at": at(stack, 2 * 3600)}, "tap-at-out-of-range"),
        ({**click, "room_id": room.room_id, "at": at(stack, -600)}, "tap-at-out-of-range"),
        ({**play, "video_id": new_id()}, "tap-unknown-video"),
        ({**play, "play_id": None}, "tap-incomplete"),
        ({**anchor, "product_id": unanchored}, "tap-not-anchored"),
        ({**anchor, "product_id": elsewhere}, "tap-not-anchored"),
        (anchor, "tap-incomplete"),
    ]
    subs = []
    for event, code in refused:
        sub, token = viewer(stack)
        subs.append(sub)
        sent = {name: value for name, value in event.items() if value is not None}
        response = await post_events(stack, token, [good, sent])
        body = assert_problem(response, 422, code, "events[1]")
        assert body["index"] == 1, body

    # Malformed input is refused as such, naming the field.
    sub, token = viewer(stack)
    subs.append(sub)
    assert_problem(await post_events(stack, token, [good, {**good, "kind": "like"}]), 400, field="events[1].kind")
    assert_problem(await post_events(stack, token, [{**good, "price_minor": 1}]), 400, field="events[0].price_minor")
    assert_problem(await post_events(stack, token, [{**good, "at": "yesterday"}]), 400, field="events[0].at")
    assert_problem(await post_events(stack, token, [{**play, "watch_s": -1}]), 400, field="events[0].watch_s")
    assert_problem(await post_events(stack, token, []), 400, field="events")
    assert_problem(await post_events(stack, token, [good] * 101), 400, field="events")

    # A good batch of a refused viewer goes through; nothing refused was published.
    assert (await post_events(stack, token, [good])).status_code == 202
    published = [await tapped(stack, s) for s in subs]
    assert published[:-1] == [[]] * (len(subs) - 1)
    assert [[t.kind for t in b.taps] for b in published[-1]] == [["impression"]]


async def test_only_a_viewer_reports_taps(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    (shirt,) = await bag_with(stack, room, "Linen Shirt")
    good = {"kind": "impression", "at": at(stack), "room_id": room.room_id, "product_id": shirt, "surface": "bag"}
    assert (await post_events(stack, None, [good])).status_code == 401
    assert (await post_events(stack, room.host, [good])).status_code == 403
    assert (await post_events(stack, room.merchant, [good])).status_code == 403


async def test_one_tokens_stream_of_batches_is_throttled(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    (shirt,) = await bag_with(stack, room, "Linen Shirt")
    (_, token), (_, other) = viewer(stack), viewer(stack)
    good = {"kind": "impression", "at": at(stack), "room_id": room.room_id, "product_id": shirt, "surface": "bag"}
    answers = [await post_events(stack, token, [good]) for _ in range(30)]
    codes = [a.status_code for a in answers]
    assert codes[:20] == [202] * 20  # funnel_tap_burst
    assert codes[20:].count(429) >= 8  # a token comes back every 5 s
    throttled = next(a for a in answers if a.status_code == 429)
    assert_problem(throttled, 429, "too-many-requests")
    assert int(throttled.headers["Retry-After"]) >= 1
    assert (await post_events(stack, other, [good])).status_code == 202
