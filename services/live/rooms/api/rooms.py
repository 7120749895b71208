"""HTTP API of live rooms: create, read, start, end, edit, and the state a viewer's screen shows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Request, Response, get, patch, post

from libs.errors import Conflict, Invalid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from services.live.rooms.use_cases import rooms, state
from services.live.rooms.views import Room, RoomState

STAFF = requires("host", "merchant")

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
# http(s) only: a cover is shown to every viewer, so no javascript:, data: or ftp: URLs.
CoverUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$")]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class NewRoom(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title
    # Taken from the token; if given it must be that merchant.
    merchant_id: uuid.UUID | None = None
    # A merchant names the host of the room it schedules (one who has hosted its rooms); a host opens its own.
    host_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    cover_url: CoverUrl | None = None
    scheduled_start_at: UtcTime | None = None


class RoomChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change; absent ones stay, `null` clears the cover or the schedule."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    cover_url: CoverUrl | msgspec.UnsetType | None = msgspec.UNSET
    scheduled_start_at: UtcTime | msgspec.UnsetType | None = msgspec.UNSET


@post("/rooms", guards=[STAFF], tags=["rooms"], status_code=201, opt=documented(Invalid, idempotency_key="optional"))
async def create_room(data: NewRoom, request: Request, runtime: Runtime) -> Response[Room]:
    """Create a scheduled room for the merchant the token names: hosted by the calling host, or by the host a merchant
    names in `host_id` (one who has hosted its rooms); Idempotency-Key honoured."""
    room = await rooms.create_room(
        runtime,
        principal_of(request),
        key=idempotency_key(request, required=False),
        title=data.title,
        merchant_id=str(data.merchant_id) if data.merchant_id else None,
        host_id=data.host_id,
        cover_url=data.cover_url,
        scheduled_start_at=data.scheduled_start_at,
    )
    return Response(room, status_code=201)


@get("/rooms/{room_id:str}", tags=["rooms"])
async def get_room(room_id: str, runtime: Runtime) -> Room:
    """A room; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await rooms.get_room(runtime, room_id)


@post(
    "/rooms/{room_id:str}/start",
    guards=[STAFF],
    tags=["rooms"],
    status_code=200,
    opt=documented(Conflict, idempotency_key="optional"),
)
async def start_room(room_id: str, request: Request, runtime: Runtime) -> Response[Room]:
    """Go live (from scheduled or ended): a new session; the room's host or merchant (Idempotency-Key honoured)."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    key = idempotency_key(request, required=False)
    room = await rooms.start_room(runtime, principal_of(request), room_id, key=key)
    return Response(room, status_code=200)


@post(
    "/rooms/{room_id:str}/end",
    guards=[STAFF],
    tags=["rooms"],
    status_code=200,
    opt=documented(Conflict, idempotency_key="optional"),
)
async def end_room(room_id: str, request: Request, runtime: Runtime) -> Response[Room]:
    """End the live session (its visits and sales end with it); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    key = idempotency_key(request, required=False)
    room = await rooms.end_room(runtime, principal_of(request), room_id, key=key)
    return Response(room, status_code=200)


@patch("/rooms/{room_id:str}", guards=[STAFF], tags=["rooms"], opt=documented(Conflict))
async def edit_room(room_id: str, data: RoomChanges, request: Request, runtime: Runtime) -> Room:
    """Change title, cover or scheduled start until the room has ended; the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    return await rooms.update_room(runtime, principal_of(request), room_id, changes)


@get("/rooms/{room_id:str}/state", tags=["feed"])
async def get_state(room_id: str, runtime: Runtime) -> RoomState:
    """What a viewer's screen shows now (the feed's first event); public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await state.room_state(runtime, room_id)
