"""Rooms and their lifecycle: create, read, start (a new session), end, edit; and THE room lookup, `room_of`."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from libs.auth import Principal
from libs.db import write_once
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.scheduler import cancel, schedule
from services.live.rooms import domain, store
from services.live.rooms.domain import RoomAlreadyLive, RoomNotFound, RoomNotLive, UnknownHost
from services.live.rooms.use_cases.activities import activities_of
from services.live.rooms.views import Room


async def room_of(conn: asyncpg.Connection, room_id: str, *, lock: bool = False) -> Room:
    """The room by a client-given id, or 404 (without a query for an id that is no UUID)."""
    parsed = canonical_uuid(room_id)
    room = await store.rooms.fetch_room(conn, parsed, lock=lock) if parsed else None
    if room is None:
        raise RoomNotFound()
    return room


async def create_room(
    runtime: Runtime,
    caller: Principal,
    *,
    key: str | None,
    title: str,
    merchant_id: str | None,
    host_id: str | None,
    cover_url: str | None,
    scheduled_start_at: datetime | None,
) -> object:
    """A new scheduled room: a host's own, for the merchant its token names, or one a merchant schedules for a host
    who has hosted its rooms; a retried key gets the first."""
    merchant_id, host_id = domain.room_owners(caller, merchant_id, host_id)
    fields = {
        "title": title,
        "merchant_id": merchant_id,
        "host_id": host_id,
        "cover_url": cover_url,
        "scheduled_start_at": scheduled_start_at,
    }

    async def effect(conn: asyncpg.Connection) -> Room:
        if host_id != caller.sub and not await store.rooms.hosted_for(conn, host_id, merchant_id):
            raise UnknownHost()
        room = Room(
            room_id=str(uuid.uuid4()),
            host_id=host_id,
            merchant_id=merchant_id,
            title=title,
            cover_url=cover_url,
            status="scheduled",
            scheduled_start_at=scheduled_start_at,
            created_at=runtime.clock.now(),
        )
        await store.rooms.insert_room(conn, room)
        return room

    return await write_once(runtime.db, caller=caller, scope="live.create_room", key=key, request=fields, effect=effect)


async def get_room(runtime: Runtime, room_id: str) -> Room:
    """A room; public."""
    async with runtime.db.transaction() as conn:
        return await room_of(conn, room_id)


async def start_room(runtime: Runtime, caller: Principal, room_id: str, *, key: str | None) -> object:
    """Go live: a new session opens, its presence sweeper is scheduled, viewers hear `room.started`."""

    async def effect(conn: asyncpg.Connection) -> Room:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        domain.ensure_may_start(room)
        now, session_id = runtime.clock.now(), str(uuid.uuid4())
        started = await store.rooms.start_session(conn, room.room_id, session_id, now)
        if started is None:  # the room lock rules this out; the conditional update is the backstop
            raise RoomAlreadyLive()
        await schedule(
            conn,
            domain.PRESENCE_SWEEP,
            session_id,
            now + timedelta(seconds=domain.SWEEP_EVERY_S),
            {"room_id": room.room_id},
        )
        await store.feed.emit(conn, room.room_id, domain.ROOM_STARTED, {"session_id": session_id, "started_at": now})
        return started

    scope = f"live.start_room:{room_id}"
    return await write_once(runtime.db, caller=caller, scope=scope, key=key, request={}, effect=effect)


async def end_room(runtime: Runtime, caller: Principal, room_id: str, *, key: str | None) -> object:
    """Stop being live: the session and its visits close, its activities end, viewers hear `room.ended`."""

    async def effect(conn: asyncpg.Connection) -> Room:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        domain.ensure_live(room)
        now = runtime.clock.now()
        # Waits for joins in flight (they share-lock the session), so no visit opens in an ended session.
        ended = await store.rooms.end_session(conn, room.room_id, now)
        if ended is None:
            raise RoomNotLive("the room is not live")
        room, session_id = ended
        await store.visits.close_session_visits(conn, session_id, now, domain.stale_before(now))
        await cancel(conn, domain.PRESENCE_SWEEP, session_id)
        # Still holding the room row: an activity's rows are locked after it, the order every path takes.
        for activity in activities_of(runtime):
            await activity.end_in_room(runtime, conn, room.room_id, runtime.clock.now())
        await store.feed.emit(conn, room.room_id, domain.ROOM_ENDED, {"session_id": session_id, "ended_at": now})
        return room

    scope = f"live.end_room:{room_id}"
    return await write_once(runtime.db, caller=caller, scope=scope, key=key, request={}, effect=effect)


async def update_room(runtime: Runtime, caller: Principal, room_id: str, changes: dict[str, Any]) -> Room:
    """Change title, cover or scheduled start of a room that has not ended; viewers hear `room.updated`."""
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id, lock=True)
        domain.ensure_room_staff(room, caller)
        domain.ensure_may_edit(room)
        updated = await store.rooms.update_room(conn, room.room_id, changes)
        if updated != room:
            fields = {name: getattr(updated, name) for name in ("title", "cover_url", "scheduled_start_at")}
            await store.feed.emit(conn, room.room_id, domain.ROOM_UPDATED, fields)
        return updated
