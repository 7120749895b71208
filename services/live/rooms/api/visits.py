"""HTTP API of a room's visits: join, heartbeat, leave (buyers)."""

from __future__ import annotations

from litestar import Request, post

from libs.errors import Conflict
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names, tag
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from libs.web.throttle import Limits, throttled
from services.live.rooms.use_cases import visits
from services.live.rooms.views import Visit

# Per-caller throttle of joins: one token's burst of views sheds here (docs/ARCHITECTURE.md, "Traffic that is not
# people"); the purchase limits, in a bucket of their own.
JOINS = Limits("room_join", lambda settings: (settings.join_rate_per_s, settings.join_burst))


@post(
    "/rooms/{room_id:str}/join",
    guards=[requires("buyer"), throttled(JOINS)],
    tags=["viewers"],
    status_code=200,
    opt=documented(Conflict),
)
async def join_room(room_id: str, request: Request, runtime: Runtime) -> Visit:
    """Start watching the live room; joining again while watching (or within seconds of leaving) returns the same
    visit."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    with baggage_set(**{names.ROOM_ID: canonical_uuid(room_id)}):
        return await visits.join(runtime, principal_of(request), room_id)


@post(
    "/rooms/{room_id:str}/heartbeat",
    guards=[requires("buyer")],
    tags=["viewers"],
    status_code=200,
    opt=documented(Conflict),
)
async def heartbeat(room_id: str, request: Request, runtime: Runtime) -> Visit:
    """Still watching (every ~15 s; after 45 s of silence the visit counts as left: 409 `not-watching`)."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await visits.heartbeat(runtime, principal_of(request), room_id)


@post("/rooms/{room_id:str}/leave", guards=[requires("buyer")], tags=["viewers"], status_code=204)
async def leave_room(room_id: str, request: Request, runtime: Runtime) -> None:
    """Stop watching; harmless when not watching."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    await visits.leave(runtime, principal_of(request), room_id)
