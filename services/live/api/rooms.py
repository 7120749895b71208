"""HTTP API of live rooms: create, read, start, end, edit, state, stats; and the token echo."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec
from litestar import Request, Response, get, patch, post

from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from services.live import domain, use_cases
from services.live.api.common import CoverUrl, Title, UtcTime, tag_room, write
from services.live.domain import Room, RoomState, RoomStats

STAFF = requires("host", "merchant")


class NewRoom(msgspec.Struct, kw_only=True):
    title: Title
    # Taken from the host's token; if given it must be that merchant.
    merchant_id: uuid.UUID | None = None
    cover_url: CoverUrl | None = None
    scheduled_start_at: UtcTime | None = None


class RoomChanges(msgspec.Struct, kw_only=True):
    """Fields to change; absent ones stay, `null` clears the cover or the schedule."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    cover_url: CoverUrl | msgspec.UnsetType | None = msgspec.UNSET
    scheduled_start_at: UtcTime | msgspec.UnsetType | None = msgspec.UNSET


class Caller(msgspec.Struct, kw_only=True):
    sub: str
    role: str


@post("/rooms", guards=[requires("host")], tags=["rooms"], status_code=201)
async def create_room(data: NewRoom, request: Request, runtime: Runtime) -> Response[Room]:
    """Create a scheduled room hosted by the caller, for the merchant its token names (Idempotency-Key honoured)."""
    host = principal_of(request)
    merchant_id = domain.room_merchant(host, str(data.merchant_id) if data.merchant_id else None)
    fields = {**msgspec.structs.asdict(data), "merchant_id": merchant_id}

    async def effect(conn: asyncpg.Connection) -> Room:
        return await use_cases.create_room(conn, runtime.clock, host, **fields)

    return await write(runtime, request, host, "live.create_room", fields, effect, 201)


@get("/rooms/{room_id:str}", tags=["rooms"])
async def get_room(room_id: str, runtime: Runtime) -> Room:
    """A room; public."""
    tag_room(room_id)
    return await use_cases.get_room(runtime.db, room_id)


@post("/rooms/{room_id:str}/start", guards=[STAFF], tags=["rooms"], status_code=200)
async def start_room(room_id: str, request: Request, runtime: Runtime) -> Response[Room]:
    """Go live (from scheduled or ended): a new session; the room's host or merchant (Idempotency-Key honoured)."""
    tag_room(room_id)
    caller = principal_of(request)

    async def effect(conn: asyncpg.Connection) -> Room:
        return await use_cases.start_room(conn, runtime.clock, caller, room_id)

    return await write(runtime, request, caller, f"live.start_room:{room_id}", {}, effect, 200)


@post("/rooms/{room_id:str}/end", guards=[STAFF], tags=["rooms"], status_code=200)
async def end_room(room_id: str, request: Request, runtime: Runtime) -> Response[Room]:
    """End the live session (its views and sales end with it); the room's host or merchant."""
    tag_room(room_id)
    caller = principal_of(request)

    async def effect(conn: asyncpg.Connection) -> Room:
        return await use_cases.end_room(conn, runtime.clock, caller, room_id)

    return await write(runtime, request, caller, f"live.end_room:{room_id}", {}, effect, 200)


@patch("/rooms/{room_id:str}", guards=[STAFF], tags=["rooms"])
async def edit_room(room_id: str, data: RoomChanges, request: Request, runtime: Runtime) -> Room:
    """Change title, cover or scheduled start until the room has ended; the room's host or merchant."""
    tag_room(room_id)
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    async with runtime.db.transaction() as conn:
        return await use_cases.update_room(conn, principal_of(request), room_id, changes)


@get("/rooms/{room_id:str}/state", tags=["feed"])
async def get_state(room_id: str, runtime: Runtime) -> RoomState:
    """What a viewer's screen shows now (the feed's first event); public."""
    tag_room(room_id)
    return await use_cases.room_state(runtime.db, runtime.clock, room_id)


@get("/rooms/{room_id:str}/stats", guards=[STAFF], tags=["stats"])
async def get_stats(room_id: str, request: Request, runtime: Runtime) -> RoomStats:
    """Viewers per session and paid orders of the room, for its host or its merchant."""
    tag_room(room_id)
    return await use_cases.get_stats(runtime.db, runtime.clock, principal_of(request), room_id)


@post("/echo", guards=[requires()], tags=["ops"], status_code=200)
async def echo(request: Request) -> Caller:
    """Who the bearer token says the caller is; the cheapest authenticated write (a benchmark's ceiling)."""
    principal = principal_of(request)
    return Caller(sub=principal.sub, role=principal.role)
