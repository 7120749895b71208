"""What live announces (the room feed, flash-sale admissions and returned units, claimed coupons) and the request it
answers (are these rooms real sources of these products?)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import msgspec

from libs.contracts.base import Event


class RoomFeed(Event, frozen=True, kw_only=True):
    """Something viewers of a room should see now (pinned product, bag, sale, coupon, room state).

    Every live instance listens and pushes it to its own feed clients. `seq` counts per room (bumped on
    the room row in the transaction that wrote the change), so an instance delivers a room's events in
    order however the relays interleave them. `kind` and `data` are the feed's documented vocabulary
    (docs/ARCHITECTURE.md, "Room feed").
    """

    SUBJECT: ClassVar[str] = "live.room.feed.v1"
    room_id: str
    seq: int
    kind: str
    data: dict[str, Any] = {}


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """One buyer's admitted purchase in a flash sale; orders makes `order_id` from it."""

    admission_id: str
    order_id: str
    buyer_id: str
    quantity: int
    admitted_at: datetime


class FlashSaleAdmitted(Event, frozen=True, kw_only=True):
    """A batch of purchases admitted in one flash sale, each to become an order awaiting payment.

    One event per admitted batch (not per buyer): the admission path does one commit per batch.
    """

    SUBJECT: ClassVar[str] = "live.flash_sale.admitted.v1"
    sale_id: str
    room_id: str
    merchant_id: str
    sku_id: str
    product_id: str
    title: str
    sku_name: str
    unit_price_minor: int
    currency: str
    # The buyer must pay within this many seconds of `admitted_at`, or the unit goes back to the sale.
    pay_within_s: int
    admissions: list[Admission]


class FlashSaleUnitsReturned(Event, frozen=True, kw_only=True):
    """Units of a sale's stock allocation go back to shop's available stock (sale ended, or a late expiry)."""

    SUBJECT: ClassVar[str] = "live.flash_sale.units_returned.v1"
    sale_id: str
    merchant_id: str
    sku_id: str
    quantity: int
    # `sale_ended` (what was unsold at the end), `sale_cancelled`, or `admission_expired` (after the end).
    reason: str


class CouponClaimed(Event, frozen=True, kw_only=True):
    """A viewer claimed a coupon dropped in a room; orders keeps it until it is used at checkout."""

    SUBJECT: ClassVar[str] = "live.coupon.claimed.v1"
    coupon_id: str
    drop_id: str
    room_id: str
    merchant_id: str
    buyer_id: str
    # `amount_off` (amount_off_minor in `currency`) or `percent_off` (1-100).
    kind: str
    amount_off_minor: int = 0
    percent_off: int = 0
    currency: str
    min_spend_minor: int = 0
    valid_until: datetime


class RoomViewed(Event, frozen=True, kw_only=True):
    """A counted view: a viewer joined a live session (a re-join within seconds of leaving is not a new view).

    Written with the visit it opens. The funnel's `view` step; `visit_id` is its fact key.
    """

    SUBJECT: ClassVar[str] = "live.room.viewed.v1"
    visit_id: str
    room_id: str
    session_id: str
    host_id: str
    merchant_id: str
    viewer_id: str
    joined_at: datetime


class VisitEnded(Event, frozen=True, kw_only=True):
    """A visit closed (leave, end of the room, or the presence sweep) with the watch time it earned.

    `watch_s` runs from the join to the last heartbeat (a visit that never sent one watched 0 s); the funnel's
    `watch` step. `visit_id` is its fact key.
    """

    SUBJECT: ClassVar[str] = "live.room.visit_ended.v1"
    visit_id: str
    room_id: str
    session_id: str
    host_id: str
    merchant_id: str
    viewer_id: str
    watch_s: float
    ended_at: datetime


class FunnelTap(msgspec.Struct, frozen=True, kw_only=True):
    """One thing a client reported, checked and filled in by live before it is published.

    `kind`: `impression` | `click` (a product or deal in a room's bag or on its pinned card: `surface` `bag` |
    `pinned`), `video_play` (`watch_s`, `completed`) | `anchor_click` (a video's product or deal anchor).
    `fact_key` is the dedupe identity: impressions and clicks once per viewer, product and minute; a play once per
    `play_id` the client names; an anchor click once per viewer, anchor and minute.
    """

    fact_key: str
    kind: str
    at: datetime
    viewer_id: str
    host_id: str
    merchant_id: str
    room_id: str | None = None
    session_id: str | None = None
    video_id: str | None = None
    product_id: str | None = None
    deal_id: str | None = None
    surface: str | None = None
    watch_s: float = 0.0
    completed: bool = False


class FunnelTapped(Event, frozen=True, kw_only=True):
    """A batch of client-reported taps (one `POST /funnel/events`), published straight to JetStream.

    Not through the outbox: nothing in live's tables changes with it; the publish ack is what makes it durable, and
    the client retries a batch that was not acknowledged (its facts dedupe by `fact_key`).
    """

    SUBJECT: ClassVar[str] = "live.funnel.tapped.v1"
    taps: list[FunnelTap]


# --- requests live answers ----------------------------------------------------------

VERIFY_ROOM_SOURCES = "rpc.live.room.verify_sources.v1"
# The verdicts on a source.
SOURCE_OK = "ok"
SOURCE_UNKNOWN_ROOM = "unknown_room"
SOURCE_NOT_SELLING = "not_selling"


class RoomSource(msgspec.Struct, frozen=True, kw_only=True):
    """A line said to come from a live room: the room, and the product (of `merchant_id`) it would sell."""

    room_id: str
    merchant_id: str
    product_id: str


class VerifyRoomSources(msgspec.Struct, frozen=True, kw_only=True):
    """Do these rooms exist and sell these merchants' products? Asked by orders at checkout and shop at cart add."""

    sources: list[RoomSource]


class VerifyRoomSourcesReply(msgspec.Struct, frozen=True, kw_only=True):
    """One verdict per source, in the request's order: `ok`, `unknown_room` or `not_selling` (another merchant's
    room: live would never count the sale for it)."""

    verdicts: list[str]


VERIFY_VIDEO_SOURCES = "rpc.live.video.verify_sources.v1"
# The verdicts on a video source beside `ok` (a deleted video is unknown).
SOURCE_UNKNOWN_VIDEO = "unknown_video"
SOURCE_NOT_ANCHORED = "not_anchored"


class VideoSource(msgspec.Struct, frozen=True, kw_only=True):
    """A line said to come from a short video: the video, and the product or deal (of `merchant_id`) it sells."""

    video_id: str
    merchant_id: str
    product_id: str


class VerifyVideoSources(msgspec.Struct, frozen=True, kw_only=True):
    """Are these videos there (not deleted) and do they anchor these items? Asked by shop at cart add and orders
    at checkout."""

    sources: list[VideoSource]


class VerifyVideoSourcesReply(msgspec.Struct, frozen=True, kw_only=True):
    """One verdict per source, in the request's order: `ok`, `unknown_video` or `not_anchored`."""

    verdicts: list[str]


__all__ = [
    "SOURCE_NOT_ANCHORED",
    "SOURCE_UNKNOWN_VIDEO",
    "VERIFY_VIDEO_SOURCES",
    "VerifyVideoSources",
    "VerifyVideoSourcesReply",
    "VideoSource",
    "SOURCE_NOT_SELLING",
    "SOURCE_OK",
    "SOURCE_UNKNOWN_ROOM",
    "VERIFY_ROOM_SOURCES",
    "Admission",
    "CouponClaimed",
    "FlashSaleAdmitted",
    "FlashSaleUnitsReturned",
    "FunnelTap",
    "FunnelTapped",
    "RoomFeed",
    "RoomViewed",
    "VisitEnded",
    "RoomSource",
    "VerifyRoomSources",
    "VerifyRoomSourcesReply",
]
