"""Short videos: publish, list, read (anchors priced from live's replicas), delete, a room's replays; the host
page's shelf of videos; and the verdicts on videos named as the source of cart lines and checkout items."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from libs.auth import Principal
from libs.contracts import VerifyVideoSources, VerifyVideoSourcesReply
from libs.db import write_once
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.rooms import domain as room_domain
from services.live.rooms import store as room_store
from services.live.rooms.use_cases.rooms import room_of
from services.live.videos import domain, store
from services.live.videos.domain import HOST_PAGE_VIDEOS, ReplayOfOtherRoom, UnknownHost, VideoNotFound
from services.live.videos.views import Video, VideoAnchor, VideoListing, VideoPage


async def publish_video(
    runtime: Runtime,
    caller: Principal,
    *,
    key: str | None,
    title: str,
    media_url: str,
    cover_url: str | None,
    duration_s: float,
    anchors: Sequence[tuple[str | None, str | None]],
    merchant_id: str | None,
    host_id: str | None,
    room_id: str | None,
) -> object:
    """A new video of the caller's merchant anchoring its products and deals; a retried key gets the first."""
    merchant, host = domain.publisher(caller, merchant_id, host_id)
    asked = domain.anchors_asked(anchors)
    fields = {
        "title": title,
        "media_url": media_url,
        "cover_url": cover_url,
        "duration_s": duration_s,
        "anchors": [msgspec.to_builtins(a) for a in asked],
        "merchant_id": merchant,
        "host_id": host,
        "room_id": room_id,
    }

    async def effect(conn: asyncpg.Connection) -> Video:
        if host != caller.sub and not await store.videos.hosts_for_merchant(conn, host, merchant):
            raise UnknownHost()
        replayed = None
        if room_id is not None:
            room = await room_store.rooms.fetch_room(conn, canonical_uuid(room_id)) if canonical_uuid(room_id) else None
            if room is None or room.merchant_id != merchant:
                raise ReplayOfOtherRoom()
            replayed = room.room_id
        products = await store.videos.product_merchants(conn, [a.item_id for a in asked if a.kind == domain.PRODUCT])
        deals = await store.videos.deal_states(conn, [a.item_id for a in asked if a.kind == domain.DEAL])
        domain.ensure_anchors_sellable(asked, merchant, products, deals)
        video = VideoListing(
            video_id=str(uuid.uuid4()),
            host_id=host,
            merchant_id=merchant,
            title=title,
            media_url=media_url,
            cover_url=cover_url,
            duration_s=duration_s,
            room_id=replayed,
            published_at=runtime.clock.now(),
        )
        await store.videos.insert_video(conn, video, asked)
        return await _video(conn, video)

    return await write_once(
        runtime.db, caller=caller, scope="live.publish_video", key=key, request=fields, effect=effect
    )


async def _anchors(conn: asyncpg.Connection, video_id: str) -> list[VideoAnchor]:
    rows = await store.videos.anchor_rows(conn, video_id)
    product_ids = [str(r["product_id"]) for r in rows if r["product_id"]]
    stock = await room_store.bag.fetch_stock(conn, product_ids) if product_ids else {}
    anchors = []
    for r in rows:
        if r["product_id"] is not None:
            skus = room_domain.bag_skus(r["skus"] or [], stock)
            anchors.append(
                VideoAnchor(
                    position=r["position"],
                    kind="product",
                    title=r["title"],
                    available=any(sku.in_stock for sku in skus),
                    product_id=str(r["product_id"]),
                    skus=skus,
                )
            )
        else:
            anchors.append(
                VideoAnchor(
                    position=r["position"],
                    kind="deal",
                    title=r["title"],
                    available=r["status"] == "published",
                    deal_id=str(r["deal_id"]),
                    price_minor=r["price_minor"],
                    currency=r["currency"],
                )
            )
    return anchors


async def _video(conn: asyncpg.Connection, video: VideoListing) -> Video:
    return Video(**msgspec.structs.asdict(video), anchors=await _anchors(conn, video.video_id))


async def get_video(runtime: Runtime, video_id: str) -> Video:
    """A video with its anchors as live knows them now; 404 for a deleted one."""
    parsed = canonical_uuid(video_id)
    async with runtime.db.transaction() as conn:
        video = await store.videos.fetch_listing(conn, parsed) if parsed else None
        if video is None:
            raise VideoNotFound()
        return await _video(conn, video)


async def list_videos(
    runtime: Runtime,
    *,
    host_id: str | None,
    merchant_id: str | None,
    product_id: str | None,
    limit: int,
    cursor: str | None,
) -> VideoPage:
    """A page of videos, newest first, of a host, a merchant or anchoring a product (any combination)."""
    after = domain.decode_cursor(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        found = await store.videos.list_videos(
            conn, host_id=host_id, merchant_id=merchant_id, product_id=product_id, after=after, limit=limit + 1
        )
    return _page(found, limit)


async def room_replays(runtime: Runtime, room_id: str, *, limit: int, cursor: str | None) -> VideoPage:
    """The videos replaying a room, newest first; 404 for an unknown room."""
    after = domain.decode_cursor(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        room = await room_of(conn, room_id)
        found = await store.videos.list_videos(conn, room_id=room.room_id, after=after, limit=limit + 1)
    return _page(found, limit)


def _page(found: list[VideoListing], limit: int) -> VideoPage:
    items = found[:limit]
    if len(found) <= limit:
        return VideoPage(items=items)
    return VideoPage(items=items, next_cursor=domain.encode_cursor(items[-1].published_at, items[-1].video_id))


async def delete_video(runtime: Runtime, caller: Principal, video_id: str) -> None:
    """Hide the video from buyers: its host, its merchant or an operator; 404 for one already deleted."""
    async with runtime.db.transaction() as conn:
        video = await store.videos.video_ref(conn, video_id)
        if video is None or video.deleted:
            raise VideoNotFound()
        domain.ensure_may_delete(video, caller)
        await store.videos.mark_deleted(conn, video.video_id, runtime.clock.now())


async def verify_sources(runtime: Runtime, request: VerifyVideoSources) -> VerifyVideoSourcesReply:
    """One verdict per source, in order: the video is there and anchors the product (one query for all)."""
    video_ids = {canonical_uuid(source.video_id) for source in request.sources} - {None}
    async with runtime.db.transaction() as conn:
        videos = await store.videos.video_refs(conn, sorted(video_ids)) if video_ids else {}
    return VerifyVideoSourcesReply(
        verdicts=[
            domain.source_verdict(
                videos.get(canonical_uuid(source.video_id) or ""), source.merchant_id, source.product_id
            )
            for source in request.sources
        ]
    )


class VideoShelf:
    """The host page's shelf of short videos (rooms' `HostShelf`)."""

    async def host_videos(
        self, runtime: Runtime, conn: asyncpg.Connection, host_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The host's newest videos, as their page lists them (JSON-shaped)."""
        found = await store.videos.list_videos(conn, host_id=host_id, limit=HOST_PAGE_VIDEOS)
        return msgspec.to_builtins(found)
