"""HTTP API of a room's counters, for its host and its merchant."""

from __future__ import annotations

from litestar import Request, get

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web.guards import principal_of, requires
from services.live.rooms.use_cases import stats
from services.live.rooms.views import RoomStats


@get("/rooms/{room_id:str}/stats", guards=[requires("host", "merchant")], tags=["stats"])
async def get_stats(room_id: str, request: Request, runtime: Runtime) -> RoomStats:
    """Viewers per session, paid orders and their refunds, and deal vouchers sold, redeemed, refunded and expired in
    the room, for its host or its merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await stats.get_stats(runtime, principal_of(request), room_id)
