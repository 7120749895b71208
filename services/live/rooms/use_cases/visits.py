"""Visits of a live room: join, heartbeat, leave, and the sweep that writes down who silently left."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from libs.auth import Principal
from libs.runtime import Runtime
from libs.scheduler import reschedule
from services.live.rooms import domain, store
from services.live.rooms.domain import NotWatching, RoomNotLive
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import Visit


async def join(runtime: Runtime, viewer: Principal, room_id: str) -> Visit:
    """Open the caller's visit in the room's current session; while one is open, that one (refreshed)."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        session_id = await store.rooms.current_session(conn, room.room_id)
        if session_id is None:
            raise RoomNotLive(f"the room is {room.status}: viewers join while it is live")
        now = runtime.clock.now()
        return await store.visits.open_visit(conn, room.room_id, session_id, viewer.sub, now, domain.stale_before(now))


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
        await store.visits.leave(conn, room.room_id, viewer.sub, now, domain.stale_before(now))


async def sweep_presence(runtime: Runtime, conn: asyncpg.Connection, session_id: str) -> None:
    """Write down as left the session's visits that stopped beating; again in a while if the session is open."""
    # A stored job per live session rather than a timer in one process: it survives restarts, and with
    # several instances exactly one of them runs it (the scheduler's lease and SKIP LOCKED).
    now = runtime.clock.now()
    await store.visits.close_stale_visits(conn, session_id, domain.stale_before(now))
    if await store.rooms.session_is_open(conn, session_id):
        await reschedule(conn, domain.PRESENCE_SWEEP, session_id, now + timedelta(seconds=domain.SWEEP_EVERY_S))
