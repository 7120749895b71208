"""HTTP API of a room's viewers: join, heartbeat, leave (buyers)."""

from __future__ import annotations

from litestar import Request, post

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names
from libs.web.guards import principal_of, requires
from services.live import viewers
from services.live.api.common import tag_room
from services.live.domain import View


@post("/rooms/{room_id:str}/join", guards=[requires("buyer")], tags=["viewers"], status_code=200)
async def join_room(room_id: str, request: Request, runtime: Runtime) -> View:
    """Start watching the live room; joining again while watching returns the same view."""
    tag_room(room_id)
    with baggage_set(**{names.ROOM_ID: canonical_uuid(room_id)}):
        return await viewers.join(runtime.db, runtime.clock, principal_of(request), room_id)


@post("/rooms/{room_id:str}/heartbeat", guards=[requires("buyer")], tags=["viewers"], status_code=200)
async def heartbeat(room_id: str, request: Request, runtime: Runtime) -> View:
    """Still watching (every ~15 s; after 45 s of silence the view counts as left: 409 `not-watching`)."""
    tag_room(room_id)
    return await viewers.heartbeat(runtime.db, runtime.clock, principal_of(request), room_id)


@post("/rooms/{room_id:str}/leave", guards=[requires("buyer")], tags=["viewers"], status_code=204)
async def leave_room(room_id: str, request: Request, runtime: Runtime) -> None:
    """Stop watching; harmless when not watching."""
    tag_room(room_id)
    await viewers.leave(runtime.db, runtime.clock, principal_of(request), room_id)
