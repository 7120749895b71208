"""HTTP API of the funnel's figures for hosts and merchants: per room, session, video, flash sale, host and merchant,
with a per-minute series; an ended room's review; the room's live staff feed (SSE)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated

import msgspec
from litestar import Request, get
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.live.funnel.domain.figures import BadSeriesRange, BadTime, FunnelNotFound, RoomNotEnded
from services.live.funnel.use_cases import figures
from services.live.funnel.views import FunnelFigures, RoomReview

STAFF = requires("host", "merchant")
SERIES = documented(FunnelNotFound, BadSeriesRange, BadTime)
# Date-times as text: the rules parse them, so that a bad one is refused naming `from` or `to`, as the client wrote it.
From = Annotated[
    str | None,
    Parameter(query="from", max_length=40, description="series start (RFC 3339, inclusive); with `to`, ≤ 24 h"),
]
To = Annotated[str | None, Parameter(query="to", max_length=40, description="series end (RFC 3339, exclusive)")]
HostId = Annotated[str, Parameter(min_length=1, max_length=200, description="the `sub` of the host's token")]

# Browsers wait this long (ms) before reconnecting a dropped feed.
RECONNECT_MS = 2000


@get("/rooms/{room_id:str}/funnel", guards=[STAFF], tags=["funnel"], opt=SERIES)
async def room_funnel(
    room_id: str, request: Request, runtime: Runtime, since: From = None, until: To = None
) -> FunnelFigures:
    """The room's funnel over all its sessions, and its per-minute series; for its host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await figures.room_figures(runtime, principal_of(request), room_id, (since, until))


@get("/rooms/{room_id:str}/sessions/{session_id:str}/funnel", guards=[STAFF], tags=["funnel"], opt=SERIES)
async def session_funnel(
    room_id: str, session_id: str, request: Request, runtime: Runtime, since: From = None, until: To = None
) -> FunnelFigures:
    """One session of the room: its funnel and per-minute series."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await figures.session_figures(runtime, principal_of(request), room_id, session_id, (since, until))


@get("/videos/{video_id:str}/funnel", guards=[STAFF], tags=["funnel"], opt=SERIES)
async def video_funnel(
    video_id: str, request: Request, runtime: Runtime, since: From = None, until: To = None
) -> FunnelFigures:
    """A short video's funnel (plays, anchor clicks, what it sold); for its host or merchant."""
    tag({names.VIDEO_ID: canonical_uuid(video_id)})
    return await figures.video_figures(runtime, principal_of(request), video_id, (since, until))


@get("/rooms/{room_id:str}/flash-sales/{sale_id:str}/funnel", guards=[STAFF], tags=["funnel"], opt=SERIES)
async def sale_funnel(
    room_id: str, sale_id: str, request: Request, runtime: Runtime, since: From = None, until: To = None
) -> FunnelFigures:
    """A flash sale's funnel with its sell-through and pay rate; for the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await figures.sale_figures(runtime, principal_of(request), room_id, sale_id, (since, until))


@get("/hosts/{host_id:str}/funnel", guards=[requires("host")], tags=["funnel"], opt=SERIES)
async def host_funnel(
    host_id: HostId, request: Request, runtime: Runtime, since: From = None, until: To = None
) -> FunnelFigures:
    """All the host's rooms and videos; the host's own only."""
    return await figures.host_figures(runtime, principal_of(request), host_id, (since, until))


@get("/merchants/{merchant_id:str}/funnel", guards=[requires("merchant")], tags=["funnel"], opt=SERIES)
async def merchant_funnel(
    merchant_id: str, request: Request, runtime: Runtime, since: From = None, until: To = None
) -> FunnelFigures:
    """Everything the merchant sold, from rooms, videos or neither; the merchant's own only."""
    return await figures.merchant_figures(runtime, principal_of(request), merchant_id, (since, until))


@get("/rooms/{room_id:str}/review", guards=[STAFF], tags=["funnel"], opt=documented(FunnelNotFound, RoomNotEnded))
async def room_review(room_id: str, request: Request, runtime: Runtime) -> RoomReview:
    """An ended room's review: funnel, top products, best minute, sale-by-sale table (409 until it has ended)."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await figures.room_review(runtime, principal_of(request), room_id)


async def _events(messages: AsyncGenerator[FunnelFigures | None, None]) -> AsyncIterator[ServerSentEventMessage]:
    # Closing this stream (the client went away) closes the feed's at once, which unsubscribes it from the hub.
    async with aclosing(messages):
        async for message in messages:
            if message is None:
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            else:
                data = msgspec.json.encode(message).decode()
                yield ServerSentEventMessage(event="funnel", data=data, retry=RECONNECT_MS)


@get("/rooms/{room_id:str}/funnel/feed", guards=[STAFF], tags=["funnel"], opt=documented(FunnelNotFound))
async def room_funnel_feed(room_id: str, request: Request, runtime: Runtime) -> ServerSentEvent:
    """The room's funnel live (text/event-stream): `event: funnel` with the figures now, then whenever they change
    (at most about 4 a second); keep-alive comments between. For its host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    messages = await figures.follow_room_funnel(runtime, principal_of(request), room_id)  # 404 before the stream
    return ServerSentEvent(_events(messages))


ROUTES = [
    room_funnel,
    session_funnel,
    video_funnel,
    sale_funnel,
    host_funnel,
    merchant_funnel,
    room_review,
    room_funnel_feed,
]
