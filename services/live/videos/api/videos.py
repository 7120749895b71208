"""HTTP API of short videos: publish, list, read, delete, and a room's replays."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.params import Parameter

from libs.errors import Forbidden, Invalid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from services.live.videos.domain import MAX_ANCHORS, InvalidCursor, NotYourVideo
from services.live.videos.use_cases import videos
from services.live.videos.views import Video, VideoPage

PUBLISHER = requires("host", "merchant")
STAFF = requires("host", "merchant", "operator")

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
# http(s) only: media and covers are shown to every buyer, so no javascript:, data: or ftp: URLs.
Url = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$")]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]


class AnchorBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A product or a deal of the video's merchant: exactly one of the two (422 naming `anchors[i]`)."""

    product_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None


class NewVideo(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title
    media_url: Url
    cover_url: Url | None = None
    duration_s: Annotated[float, msgspec.Meta(gt=0, le=86400)]
    anchors: Annotated[list[AnchorBody], msgspec.Meta(min_length=1, max_length=MAX_ANCHORS)]
    # Taken from the token; if given it must be that merchant.
    merchant_id: uuid.UUID | None = None
    # A merchant names the host the video is of (one who has hosted its rooms); a host publishes as themselves.
    host_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    # The room this video replays: a room of the same merchant.
    room_id: uuid.UUID | None = None


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


@post(
    "/videos",
    guards=[PUBLISHER],
    tags=["videos"],
    status_code=201,
    opt=documented(Forbidden, Invalid, idempotency_key="optional"),
)
async def publish_video(data: NewVideo, request: Request, runtime: Runtime) -> Response[Video]:
    """Publish a video for the merchant the token names, anchoring its products and deals (Idempotency-Key honoured)."""
    video = await videos.publish_video(
        runtime,
        principal_of(request),
        key=idempotency_key(request, required=False),
        title=data.title,
        media_url=data.media_url,
        cover_url=data.cover_url,
        duration_s=data.duration_s,
        anchors=[(_id(a.product_id), _id(a.deal_id)) for a in data.anchors],
        merchant_id=_id(data.merchant_id),
        host_id=data.host_id,
        room_id=_id(data.room_id),
    )
    return Response(video, status_code=201)


@get("/videos", tags=["videos"], opt=documented(InvalidCursor))
async def list_videos(
    runtime: Runtime,
    host_id: Annotated[str | None, Parameter(max_length=200, description="only this host's")] = None,
    merchant_id: Annotated[uuid.UUID | None, Parameter(description="only this merchant's")] = None,
    product_id: Annotated[uuid.UUID | None, Parameter(description="only those anchoring this product")] = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> VideoPage:
    """Videos, newest first, of a host, a merchant or anchoring a product; public."""
    return await videos.list_videos(
        runtime,
        host_id=host_id,
        merchant_id=_id(merchant_id),
        product_id=_id(product_id),
        limit=limit,
        cursor=cursor,
    )


@get("/videos/{video_id:str}", tags=["videos"])
async def get_video(video_id: str, runtime: Runtime) -> Video:
    """A video with its anchors' titles, prices and stock as live knows them; public (404 once deleted)."""
    tag({names.VIDEO_ID: canonical_uuid(video_id)})
    return await videos.get_video(runtime, video_id)


@delete("/videos/{video_id:str}", guards=[STAFF], tags=["videos"], status_code=204, opt=documented(NotYourVideo))
async def delete_video(video_id: str, request: Request, runtime: Runtime) -> None:
    """Take a video down (buyers get 404; orders keep naming it): its host, its merchant or an operator."""
    tag({names.VIDEO_ID: canonical_uuid(video_id)})
    await videos.delete_video(runtime, principal_of(request), video_id)


@get("/rooms/{room_id:str}/replays", tags=["videos"], opt=documented(InvalidCursor))
async def room_replays(room_id: str, runtime: Runtime, limit: Limit = 20, cursor: Cursor = None) -> VideoPage:
    """The videos replaying a room, newest first; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await videos.room_replays(runtime, room_id, limit=limit, cursor=cursor)
