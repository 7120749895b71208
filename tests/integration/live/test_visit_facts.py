"""What live announces of its viewers for the funnel: one RoomViewed per counted view (a re-join within the grace is
the same view) and one VisitEnded per visit with the watch time its heartbeats earned; one token's burst of joins is
throttled.

Real Postgres and NATS; the events are read back from JetStream as the funnel's consumers receive them. Time moves
by the stack's clock (the re-join grace is 10 s, the presence timeout 45 s).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import msgspec
import pytest

from libs.contracts import RoomViewed, VisitEnded
from tests.harness import Stack, assert_problem, eventually
from tests.integration.live.support import Room, control, join, live_room, stats

SERVICES = ("live",)
# A slow refill, so a burst of joins past `join_burst` (5) is refused however slowly this machine sends it.
SETTINGS = {"join_rate_per_s": 0.2}


async def act(stack: Stack, room: Room, token: str, action: str) -> None:
    """Heartbeat or leave as a viewer, expecting success."""
    async with stack.client("live", token) as client:
        response = await client.post(f"/rooms/{room.room_id}/{action}")
    assert response.status_code in (200, 204), response.text


async def joined(stack: Stack, room: Room, token: str) -> dict:
    response = await join(stack, room, token)
    assert response.status_code == 200, response.text
    return response.json()


async def _settled(stack: Stack) -> bool:
    """Every visit whose grace is over is reported and every announcement is on JetStream."""
    pool = stack.apps["live"].runtime.db.pool
    pending = await pool.fetchval(
        """SELECT (SELECT count(*) FROM due_jobs WHERE kind = 'visit_ended' AND due_at <= $1)
                + (SELECT count(*) FROM outbox WHERE published_at IS NULL)""",
        stack.clock.now(),
    )
    return pending == 0


async def _read(stack: Stack, event_type: type[RoomViewed] | type[VisitEnded], room_id: str) -> list:
    bus = stack.apps["live"].runtime.bus
    sub = await bus.js.pull_subscribe(bus.subject(event_type.SUBJECT), stream=bus.stream("LIVE"))
    found = []
    try:
        while True:
            try:
                messages = await sub.fetch(1000, timeout=0.3)
            except TimeoutError:
                break
            for message in messages:
                event = msgspec.json.decode(message.data, type=event_type)
                if event.room_id == room_id:
                    found.append(event)
                await message.ack()
    finally:
        await sub.unsubscribe()
    return found


async def announced(stack: Stack, room: Room) -> tuple[list[RoomViewed], list[VisitEnded]]:
    """The room's RoomViewed and VisitEnded on JetStream, once live has published all it has to say by now."""
    await eventually(lambda: _settled(stack))
    return await _read(stack, RoomViewed, room.room_id), await _read(stack, VisitEnded, room.room_id)


def seconds(a: str | datetime, b: str | datetime) -> float:
    first = a if isinstance(a, datetime) else datetime.fromisoformat(a)
    second = b if isinstance(b, datetime) else datetime.fromisoformat(b)
    return (second - first).total_seconds()


# --- views --------------------------------------------------------------------------------------


async def test_a_join_is_one_counted_view_however_often_the_viewer_joins_while_watching(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewer = stack.infra.token("buyer")
    visit = await joined(stack, room, viewer)
    await joined(stack, room, viewer)
    await act(stack, room, viewer, "heartbeat")
    await joined(stack, room, viewer)

    viewed, ended = await announced(stack, room)
    (view,) = viewed
    assert (view.room_id, view.session_id, view.viewer_id) == (room.room_id, visit["session_id"], visit["viewer_id"])
    assert (view.host_id, view.merchant_id) == (room.body["host_id"], room.merchant_id)
    assert view.joined_at == datetime.fromisoformat(visit["joined_at"])
    assert ended == []
    assert (await stats(stack, room))["views"] == 1


async def test_a_rejoin_within_the_grace_continues_the_view_and_its_watch_time(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewer = stack.infra.token("buyer")
    first = await joined(stack, room, viewer)
    stack.clock.advance(20)
    await act(stack, room, viewer, "heartbeat")
    await act(stack, room, viewer, "leave")  # a flaky connection: back 5 s later
    stack.clock.advance(5)
    again = await joined(stack, room, viewer)
    assert again["joined_at"] == first["joined_at"]

    stack.clock.advance(15)  # the first leave's grace is long over: the visit goes on
    viewed, ended = await announced(stack, room)
    assert (len(viewed), ended) == (1, [])

    await act(stack, room, viewer, "heartbeat")
    await act(stack, room, viewer, "leave")
    stack.clock.advance(11)
    viewed, ended = await announced(stack, room)
    assert len(viewed) == 1
    (end,) = ended
    assert end.visit_id == viewed[0].visit_id
    assert end.watch_s == pytest.approx(40, abs=2)  # join to the final leave, the 5 s away included
    assert end.watch_s == pytest.approx(seconds(first["joined_at"], end.ended_at), abs=0.01)
    session = (await stats(stack, room))["sessions"][-1]
    assert (session["views"], session["unique_viewers"]) == (1, 1)


async def test_a_rejoin_after_the_grace_is_a_new_view(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewer = stack.infra.token("buyer")
    await joined(stack, room, viewer)
    stack.clock.advance(15)
    await act(stack, room, viewer, "heartbeat")
    await act(stack, room, viewer, "leave")
    stack.clock.advance(11)
    await joined(stack, room, viewer)

    viewed, ended = await announced(stack, room)
    assert len(viewed) == 2
    assert len({v.visit_id for v in viewed}) == 2
    (end,) = ended
    assert end.visit_id == viewed[0].visit_id
    assert end.watch_s == pytest.approx(15, abs=2)
    assert (await stats(stack, room))["views"] == 2


async def test_simultaneous_rejoins_within_the_grace_continue_one_view(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewer = stack.infra.token("buyer")
    first = await joined(stack, room, viewer)
    await act(stack, room, viewer, "leave")
    stack.clock.advance(3)
    async with stack.client("live", viewer) as client:
        answers = await asyncio.gather(*(client.post(f"/rooms/{room.room_id}/join") for _ in range(4)))
    assert {a.status_code for a in answers} == {200}
    assert {a.json()["joined_at"] for a in answers} == {first["joined_at"]}

    await control(stack, room, "end")
    viewed, ended = await announced(stack, room)
    assert (len(viewed), len(ended)) == (1, 1)
    assert (await stats(stack, room))["views"] == 1


async def test_rejoins_racing_the_end_of_the_grace_report_each_view_once(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewers = [stack.infra.token("buyer") for _ in range(12)]
    await asyncio.gather(*(joined(stack, room, v) for v in viewers))
    await asyncio.gather(*(act(stack, room, v, "heartbeat") for v in viewers))
    await asyncio.gather(*(act(stack, room, v, "leave") for v in viewers))
    stack.clock.advance(9.9)  # the grace ends while they come back: each is continued or reported, never both
    await asyncio.gather(*(joined(stack, room, v) for v in viewers))
    await control(stack, room, "end")
    stack.clock.advance(11)

    viewed, ended = await announced(stack, room)
    assert 12 <= len(viewed) <= 24
    assert sorted(e.visit_id for e in ended) == sorted(v.visit_id for v in viewed)
    assert (await stats(stack, room))["views"] == len(viewed)


# --- watch time ---------------------------------------------------------------------------------


async def test_silence_ends_a_visit_at_its_last_heartbeat(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewer = stack.infra.token("buyer")
    await joined(stack, room, viewer)
    stack.clock.advance(30)
    await act(stack, room, viewer, "heartbeat")
    stack.clock.advance(50)  # the viewer vanished: the sweep writes the visit down at its last heartbeat

    async def reported() -> list[VisitEnded]:
        return (await announced(stack, room))[1]

    (end,) = await eventually(reported)
    assert end.watch_s == pytest.approx(30, abs=2)
    assert end.viewer_id == (await announced(stack, room))[0][0].viewer_id


async def test_a_visit_without_heartbeats_watched_nothing(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    idle, silent = stack.infra.token("buyer"), stack.infra.token("buyer")
    await joined(stack, room, idle)
    await joined(stack, room, silent)
    stack.clock.advance(20)
    await act(stack, room, idle, "leave")  # 20 s in the room, not one heartbeat
    stack.clock.advance(50)  # and the other one is swept

    async def both() -> list[VisitEnded] | None:
        ended = (await announced(stack, room))[1]
        return ended if len(ended) == 2 else None

    ended = await eventually(both)
    assert [e.watch_s for e in ended] == [0, 0]
    assert (await stats(stack, room))["views"] == 2


async def test_ending_the_room_reports_every_visit_once(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    watching = [stack.infra.token("buyer") for _ in range(3)]
    gone = stack.infra.token("buyer")
    for viewer in [*watching, gone]:
        await joined(stack, room, viewer)
    stack.clock.advance(12)
    for viewer in watching:
        await act(stack, room, viewer, "heartbeat")
    await act(stack, room, gone, "leave")  # left within the grace of the end: its own report, once
    stack.clock.advance(3)
    await control(stack, room, "end")

    stack.clock.advance(11)
    viewed, ended = await announced(stack, room)
    assert len(viewed) == 4
    assert sorted(e.visit_id for e in ended) == sorted(v.visit_id for v in viewed)
    watched = sorted(e.watch_s for e in ended)
    assert watched[0] == 0  # the one that left never sent a heartbeat
    assert watched[1:] == pytest.approx([15, 15, 15], abs=2)


# --- throttle -----------------------------------------------------------------------------------


async def test_one_tokens_burst_of_joins_is_throttled(stack: Stack) -> None:
    room = await live_room(stack, stack.infra)
    viewer, other = stack.infra.token("buyer"), stack.infra.token("buyer")
    async with stack.client("live", viewer) as client:
        answers = [await client.post(f"/rooms/{room.room_id}/join") for _ in range(12)]
    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5  # the burst (join_burst)
    assert codes[5:].count(429) >= 5  # a token comes back every 5 s
    refused = assert_problem(next(a for a in answers if a.status_code == 429), 429, "too-many-requests")
    assert int(next(a for a in answers if a.status_code == 429).headers["Retry-After"]) >= 1
    assert refused["retry_after_s"] >= 1
    assert (await join(stack, room, other)).status_code == 200  # another viewer is untouched
    viewed, _ = await announced(stack, room)
    assert len(viewed) == 2
