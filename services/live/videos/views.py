"""What the videos area answers with, and `VideoRef`: what other areas (the funnel) need to know of a video."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from services.live.rooms.views import BagSku


class VideoRef(msgspec.Struct, frozen=True):
    """A video as other areas check it: whose it is, what it replays and what it anchors (deleted ones too)."""

    video_id: str
    host_id: str
    merchant_id: str
    room_id: str | None
    product_ids: tuple[str, ...]
    deal_ids: tuple[str, ...]
    deleted: bool


class VideoAnchor(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A product (`product_id`, its SKUs with prices and stock) or a deal (`deal_id`, its price) under a video,
    as live's replicas know it now; `available`: some SKU in stock, or the deal still on sale."""

    position: int
    kind: Literal["product", "deal"]
    title: str
    available: bool
    product_id: str | None = None
    deal_id: str | None = None
    skus: list[BagSku] = []
    price_minor: int | None = None
    currency: str | None = None


class VideoListing(msgspec.Struct, kw_only=True):
    """A video in a listing (newest first; a host's page, a room's replays)."""

    video_id: str
    host_id: str
    merchant_id: str
    title: str
    media_url: str
    cover_url: str | None
    duration_s: float
    room_id: str | None
    published_at: datetime


class Video(msgspec.Struct, kw_only=True):
    """A video with its anchors in order."""

    video_id: str
    host_id: str
    merchant_id: str
    title: str
    media_url: str
    cover_url: str | None
    duration_s: float
    room_id: str | None
    published_at: datetime
    anchors: list[VideoAnchor]


class VideoPage(msgspec.Struct, kw_only=True):
    """One page of videos, newest first; pass `next_cursor` back as `cursor` for the next."""

    items: list[VideoListing]
    next_cursor: str | None = None
