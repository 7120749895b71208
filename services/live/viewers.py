"""Viewers of a live room: join, heartbeat, leave, and the sweeper that writes down who silently left."""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from libs.auth import Principal
from libs.clock import Clock
from libs.db import Database
from libs.runtime import Runtime
from libs.scheduler import JobHandler, reschedule
from libs.web.problems import Problem
from services.live import domain, store
from services.live.domain import View
from services.live.use_cases import PRESENCE_SWEEP, room_of


async def join(db: Database, clock: Clock, viewer: Principal, room_id: str) -> View:
    """Open the caller's view in the room's current session; while one is open, that one (refreshed)."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id)
        session_id = await store.current_session(conn, room.room_id)
        if session_id is None:
            raise Problem(409, "room-not-live", f"the room is {room.status}: viewers join while it is live")
        now = clock.now()
        return await store.open_view(conn, room.room_id, session_id, viewer.sub, now, domain.stale_before(now))


async def heartbeat(db: Database, clock: Clock, viewer: Principal, room_id: str) -> View:
    """The caller is still watching: its view stays present for another presence timeout."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id)
        domain.ensure_live(room)
        now = clock.now()
        view = await store.heartbeat(conn, room.room_id, viewer.sub, now, domain.stale_before(now))
    if view is None:
        raise Problem(409, "not-watching", "no present view of this room (left, or silent too long): join again")
    return view


async def leave(db: Database, clock: Clock, viewer: Principal, room_id: str) -> None:
    """Close the caller's view of the room, if it has one."""
    async with db.transaction() as conn:
        room = await room_of(conn, room_id)
        now = clock.now()
        await store.leave(conn, room.room_id, viewer.sub, now, domain.stale_before(now))


def jobs(runtime: Runtime) -> dict[str, JobHandler]:
    """Due-job handlers of the room side."""

    async def sweep_presence(conn: asyncpg.Connection, session_id: str, payload: dict) -> None:
        # A stored job per live session rather than a timer in one process: it survives restarts, and with
        # several instances exactly one of them runs it (the scheduler's lease and SKIP LOCKED).
        now = runtime.clock.now()
        await store.close_stale_views(conn, session_id, domain.stale_before(now))
        if await store.session_is_open(conn, session_id):
            await reschedule(conn, PRESENCE_SWEEP, session_id, now + timedelta(seconds=domain.SWEEP_EVERY_S))

    return {PRESENCE_SWEEP: sweep_presence}
