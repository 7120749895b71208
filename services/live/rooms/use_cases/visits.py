"""Visits of a live room: join, heartbeat, leave, and the sweep that writes down who silently left; the counted views
and watch times they announce (RoomViewed, VisitEnded)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from libs.auth import Principal
from libs.bus import add_events
from libs.runtime import Runtime
from libs.scheduler import reschedule, schedule_many
from services.live.rooms import domain, store
from services.live.rooms.domain import NotWatching, RoomNotLive
from services.live.rooms.domain.visits import (
    VISIT_ENDED,
    ClosedVisit,
    final_at,
    rejoin_after,
    room_viewed,
    visit_ended,
)
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import Visit


async def join(runtime: Runtime, viewer: Principal, room_id: str) -> Visit:
    """Open the caller's visit in the room's current session; while one is open, that one (refreshed); one it left
    within the re-join grace, that one (continued)."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        session_id = await store.rooms.current_session(conn, room.room_id)
        if session_id is None:
            raise RoomNotLive(f"the room is {room.status}: viewers join while it is live")
        now = runtime.clock.now()
        stale_before = domain.stale_before(now)
        stale = await store.visits.close_stale_visit_of(conn, session_id, viewer.sub, stale_before)
        await _visits_closed(runtime, conn, stale, now)
        visit, opened = await store.visits.open_visit(
            conn, room.room_id, session_id, viewer.sub, now, stale_before, rejoin_after(now, _grace_s(runtime))
        )
        if opened is not None:
            await add_events(conn, room_viewed(room, visit, opened, now))
        return visit


async def heartbeat(runtime: Runtime, viewer: Principal, room_id: str) -> Visit:
    """The caller is still watching: its visit stays present for another presence timeout."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        domain.ensure_live(room)
        now = runtime.clock.now()
        visit = await store.visits.heartbeat(conn, room.room_id, viewer.sub, now, domain.stale_before(now))
    if visit is None:
        raise NotWatching()
    return visit


async def leave(runtime: Runtime, viewer: Principal, room_id: str) -> None:
    """Close the caller's visit of the room, if it has one."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        now = runtime.clock.now()
        closed = await store.visits.leave(conn, room.room_id, viewer.sub, now, domain.stale_before(now))
        await _visits_closed(runtime, conn, closed, now)


async def sweep_presence(runtime: Runtime, conn: asyncpg.Connection, session_id: str) -> None:
    """Write down as left the session's visits that stopped beating; again in a while if the session is open."""
    # A stored job per live session rather than a timer in one process: it survives restarts, and with
    # several instances exactly one of them runs it (the scheduler's lease and SKIP LOCKED).
    now = runtime.clock.now()
    closed = await store.visits.close_stale_visits(conn, session_id, domain.stale_before(now))
    await _visits_closed(runtime, conn, closed, now)
    if await store.rooms.session_is_open(conn, session_id):
        await reschedule(conn, domain.PRESENCE_SWEEP, session_id, now + timedelta(seconds=domain.SWEEP_EVERY_S))


async def report_visit_ended(runtime: Runtime, conn: asyncpg.Connection, visit_id: str) -> None:
    """The re-join grace of a closed visit is over: announce its watch time (unless a re-join continued it)."""
    visit = await store.visits.unreported_visit(conn, visit_id)
    if visit is not None:
        await add_events(conn, visit_ended(visit, runtime.clock.now()))


async def _visits_closed(
    runtime: Runtime, conn: asyncpg.Connection, closed: Sequence[ClosedVisit], now: datetime
) -> None:
    # A visit's watch time is final once its re-join grace is over: announced now if it is (a visit swept at its last
    # heartbeat), else by a due job at the end of the grace, which a re-join deletes when it continues the visit. So a
    # visit announces exactly one VisitEnded however often it is left and continued.
    grace_s = _grace_s(runtime)
    final = [visit for visit in closed if final_at(visit, grace_s) <= now]
    await add_events(conn, *(visit_ended(visit, now) for visit in final))
    pending = [(visit.visit_id, final_at(visit, grace_s)) for visit in closed if final_at(visit, grace_s) > now]
    await schedule_many(conn, VISIT_ENDED, pending)


def _grace_s(runtime: Runtime) -> float:
    return runtime.settings.funnel_rejoin_grace_s
