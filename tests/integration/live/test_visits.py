"""Viewers of a live room: join, heartbeat, leave, presence timeout, and the counters per session.

Real Postgres and NATS; time-driven behaviour moves the stack's clock forward.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest

from libs.telemetry import names
from tests.harness import PROBLEM, Infra, Stack, eventually
from tests.integration.live.support import Room, control, create_room, join, live_room, new_id, stats

SERVICES = ("live",)


async def act(stack: Stack, room: Room, token: str, action: str) -> dict | None:
    """Heartbeat or leave as a viewer, expecting success."""
    async with stack.client("live", token) as client:
        response = await client.post(f"/rooms/{room.room_id}/{action}")
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else None


async def current(stack: Stack, room: Room) -> dict:
    """The counters of the room's newest session."""
    return (await stats(stack, room))["sessions"][-1]


async def open_views(stack: Stack, room: Room) -> list:
    """Views of the room not written down as left (no endpoint shows that, so ask live's own table)."""
    return await stack.apps["live"].runtime.db.pool.fetch(
        "SELECT viewer_id, joined_at, last_seen_at FROM room_views WHERE room_id = $1 AND left_at IS NULL",
        uuid.UUID(room.room_id),
    )


# --- joining --------------------------------------------------------------------------------


async def test_joins_count_views_and_unique_viewers(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    alice, bob = infra.token("buyer", sub=f"alice-{uuid.uuid4().hex[:6]}"), infra.token("buyer")
    joined = await join(stack, room, alice)
    assert joined.status_code == 200, joined.text
    view = joined.json()
    assert set(view) == {"room_id", "session_id", "viewer_id", "joined_at", "last_seen_at", "expires_at"}
    assert view["room_id"] == room.room_id
    assert view["viewer_id"].startswith("alice-")
    assert view["session_id"] == (await current(stack, room))["session_id"]
    assert datetime.fromisoformat(view["expires_at"]) == datetime.fromisoformat(view["last_seen_at"]) + timedelta(
        seconds=45
    )

    assert (await join(stack, room, bob)).status_code == 200
    await act(stack, room, alice, "leave")
    stack.clock.advance(11)  # past the re-join grace (10 s)
    assert (await join(stack, room, alice)).status_code == 200  # back again: a second view, still one viewer

    counted = await stats(stack, room)
    assert (counted["views"], counted["unique_viewers"], counted["concurrent_viewers"]) == (3, 2, 2)
    session = counted["sessions"][0]
    assert (session["views"], session["unique_viewers"], session["concurrent_viewers"]) == (3, 2, 2)


async def test_joining_again_while_watching_returns_the_same_view(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    viewer = infra.token("buyer")
    first = (await join(stack, room, viewer)).json()
    async with stack.client("live", viewer) as client:
        again = await client.post(f"/rooms/{room.room_id}/join", headers={"Idempotency-Key": uuid.uuid4().hex})
    assert again.status_code == 200
    assert again.json()["joined_at"] == first["joined_at"]
    assert again.json()["last_seen_at"] >= first["last_seen_at"]
    session = await current(stack, room)
    assert (session["views"], session["unique_viewers"], session["concurrent_viewers"]) == (1, 1, 1)


async def test_simultaneous_joins_of_one_viewer_make_one_view(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    viewer = infra.token("buyer")
    async with stack.client("live", viewer) as client:
        answers = await asyncio.gather(*(client.post(f"/rooms/{room.room_id}/join") for _ in range(5)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["joined_at"] for a in answers}) == 1
    session = await current(stack, room)
    assert (session["views"], session["unique_viewers"], session["peak_concurrent_viewers"]) == (1, 1, 1)


async def test_many_viewers_joining_at_once_are_all_counted(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    answers = await asyncio.gather(*(join(stack, room, infra.token("buyer")) for _ in range(30)))
    assert {a.status_code for a in answers} == {200}
    session = await current(stack, room)
    assert session["views"] == session["unique_viewers"] == session["concurrent_viewers"] == 30
    assert session["peak_concurrent_viewers"] == 30


async def test_join_is_attributed_to_the_room_in_traces(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    assert (await join(stack, room, infra.token("buyer"))).status_code == 200

    def join_spans() -> list:
        return [
            s
            for s in stack.spans.get_finished_spans()
            if s.attributes.get(names.ROOM_ID) == room.room_id and "join" in (s.attributes.get("http.route") or s.name)
        ]

    assert await eventually(join_spans)


async def test_only_buyers_join_known_live_rooms(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    buyer = infra.token("buyer")
    scheduled = await join(stack, room, buyer)
    assert (scheduled.status_code, scheduled.json()["type"]) == (409, PROBLEM + "room-not-live")
    await control(stack, room, "start")
    async with stack.client("live") as anonymous:
        assert (await anonymous.post(f"/rooms/{room.room_id}/join")).status_code == 401
    async with stack.client("live", room.host) as host:
        assert (await host.post(f"/rooms/{room.room_id}/join")).status_code == 403
    async with stack.client("live", buyer) as client:
        assert (await client.post(f"/rooms/{new_id()}/join")).status_code == 404
        assert (await client.post("/rooms/nope/join")).status_code == 404
    await control(stack, room, "end")
    ended = await join(stack, room, buyer)
    assert (ended.status_code, ended.json()["type"]) == (409, PROBLEM + "room-not-live")
    assert (await stats(stack, room))["views"] == 0


# --- presence -------------------------------------------------------------------------------


async def test_heartbeats_keep_a_view_present_and_silence_ends_it_at_the_last_one(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    viewer = infra.token("buyer")
    joined = (await join(stack, room, viewer)).json()

    stack.clock.advance(30)
    beat = await act(stack, room, viewer, "heartbeat")
    assert beat["joined_at"] == joined["joined_at"]
    assert datetime.fromisoformat(beat["last_seen_at"]) >= datetime.fromisoformat(joined["joined_at"]) + timedelta(
        seconds=30
    )
    stack.clock.advance(40)  # 40 s after the heartbeat: still within the presence timeout
    assert (await current(stack, room))["concurrent_viewers"] == 1

    stack.clock.advance(10)  # 50 s of silence: the viewer crashed or walked away
    assert (await current(stack, room))["concurrent_viewers"] == 0
    async with stack.client("live", viewer) as client:
        late = await client.post(f"/rooms/{room.room_id}/heartbeat")
    assert (late.status_code, late.json()["type"]) == (409, PROBLEM + "not-watching")

    # The sweeper writes the view down as left at its last heartbeat; its watch time ends there.
    await eventually(lambda: _none_open(stack, room))
    assert (await current(stack, room))["average_watch_s"] == pytest.approx(30, abs=2)

    # Joining again is a new view.
    rejoined = (await join(stack, room, viewer)).json()
    assert rejoined["joined_at"] != joined["joined_at"]
    session = await current(stack, room)
    assert (session["views"], session["unique_viewers"], session["concurrent_viewers"]) == (2, 1, 1)


async def _none_open(stack: Stack, room: Room) -> bool:
    return not await open_views(stack, room)


async def test_peak_unique_viewers_and_average_watch_time(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    a, b, c, d = (infra.token("buyer") for _ in range(4))
    for viewer in (a, b, c):
        await join(stack, room, viewer)
    stack.clock.advance(10)
    await act(stack, room, a, "leave")  # watched 10 s
    stack.clock.advance(10)
    await join(stack, room, d)
    await act(stack, room, b, "leave")  # watched 20 s
    stack.clock.advance(10)
    for viewer in (c, d):
        await act(stack, room, viewer, "heartbeat")

    session = await current(stack, room)
    assert session["concurrent_viewers"] == 2
    assert session["peak_concurrent_viewers"] == 3
    assert (session["views"], session["unique_viewers"]) == (4, 4)
    # a 10 s, b 20 s, c 30 s and d 10 s so far (both still watching).
    assert session["average_watch_s"] == pytest.approx((10 + 20 + 30 + 10) / 4, abs=1.5)

    await join(stack, room, a)
    more = await asyncio.gather(*(join(stack, room, infra.token("buyer")) for _ in range(3)))
    assert {r.status_code for r in more} == {200}
    session = await current(stack, room)
    assert (session["concurrent_viewers"], session["peak_concurrent_viewers"]) == (6, 6)
    assert (session["views"], session["unique_viewers"]) == (8, 7)


async def test_leaving_is_harmless_when_not_watching(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    viewer = infra.token("buyer")
    async with stack.client("live", viewer) as client:
        assert (await client.post(f"/rooms/{room.room_id}/leave")).status_code == 204
        assert (await client.post(f"/rooms/{room.room_id}/join")).status_code == 200
        assert (await client.post(f"/rooms/{room.room_id}/leave")).status_code == 204
        assert (await client.post(f"/rooms/{room.room_id}/leave")).status_code == 204
        assert (await client.post(f"/rooms/{new_id()}/leave")).status_code == 404
        gone = await client.post(f"/rooms/{room.room_id}/heartbeat")
    assert (gone.status_code, gone.json()["type"]) == (409, PROBLEM + "not-watching")
    session = await current(stack, room)
    assert (session["views"], session["concurrent_viewers"]) == (1, 0)


async def test_ending_the_room_ends_every_view_and_the_next_session_starts_afresh(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    viewers = [infra.token("buyer") for _ in range(3)]
    for viewer in viewers:
        await join(stack, room, viewer)
    await control(stack, room, "end")
    assert await open_views(stack, room) == []
    (first,) = (await stats(stack, room))["sessions"]
    assert (first["concurrent_viewers"], first["peak_concurrent_viewers"], first["views"]) == (0, 3, 3)
    async with stack.client("live", viewers[0]) as client:
        beat = await client.post(f"/rooms/{room.room_id}/heartbeat")
    assert (beat.status_code, beat.json()["type"]) == (409, PROBLEM + "room-not-live")

    await control(stack, room, "start")
    view = (await join(stack, room, viewers[0])).json()
    session = await current(stack, room)
    assert view["session_id"] == session["session_id"] != first["session_id"]
    assert (session["views"], session["concurrent_viewers"]) == (1, 1)


async def test_no_view_stays_open_when_joins_race_the_end_of_the_room(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)

    async def end() -> int:
        async with stack.client("live", room.host) as host:
            return (await host.post(f"/rooms/{room.room_id}/end")).status_code

    joins = [join(stack, room, infra.token("buyer")) for _ in range(20)]
    *answers, ended = await asyncio.gather(*joins, end())
    assert ended == 200
    assert {a.status_code for a in answers} <= {200, 409}
    assert await open_views(stack, room) == []
    (session,) = (await stats(stack, room))["sessions"]
    assert session["views"] == sum(a.status_code == 200 for a in answers)
