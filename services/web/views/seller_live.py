"""What the seller's live pages get: rooms by status, a room with its stats and review (charts made already), short
videos with their figures, customers by segment. Plain data, made by `use_cases/seller_live.py`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Form:
    """What a merchant typed into a form, and the errors by form field ("" for the form as a whole)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # Checked boxes of a repeated field (a video's anchors).
    chosen: list[str] = field(default_factory=list)


@dataclass
class RoomRow:
    """A room in the merchant's listing, as live answered it."""

    room_id: str
    title: str
    host_id: str
    status: str
    cover_url: str | None
    scheduled_start_at: datetime | None
    sessions: int
    last_started_at: datetime | None
    last_ended_at: datetime | None
    concurrent_viewers: int


@dataclass
class RoomSection:
    """The merchant's rooms of one status: a page of them and where the next starts."""

    status: str
    rooms: list[RoomRow]
    next_cursor: str | None = None


@dataclass
class RoomsPage:
    """`/seller/rooms`: every status' first page (or one status' page, when paging), and the schedule form."""

    sections: list[RoomSection]
    paging: str | None
    hosts: list[str]
    form: Form
    key: str
    now: datetime
    cursor: str | None = None


@dataclass
class SessionRow:
    number: int
    started_at: datetime
    ended_at: datetime | None
    concurrent_viewers: int
    peak_concurrent_viewers: int
    unique_viewers: int
    views: int
    average_watch_s: float


@dataclass
class MinuteRow:
    """One minute of the review's chart, for its table."""

    minute: datetime
    views: int
    clicks: int
    carts: int
    orders: int
    paid_orders: int
    gross_paid_minor: dict[str, int]


@dataclass
class Review:
    """An ended room's review (live's `GET /rooms/{id}/review`) with its charts as SVG markup."""

    funnel: dict[str, Any]
    steps: list[tuple[str, int, float | None]]
    funnel_svg: str
    minute_svg: str
    minutes: list[MinuteRow]
    top_products: list[dict[str, Any]]
    best_minute: dict[str, Any] | None
    sales: list[dict[str, Any]]


@dataclass
class RoomDetail:
    """`/seller/rooms/{id}`: the room, its counters and sessions, and its review once it has ended."""

    room: dict[str, Any]
    stats: dict[str, Any]
    sessions: list[SessionRow]
    review: Review | None
    now: datetime
    form: Form | None = None


@dataclass
class VideoRow:
    """A short video of the merchant's, with its funnel figures when live has them."""

    video_id: str
    title: str
    host_id: str
    media_url: str
    cover_url: str | None
    duration_s: float
    room_id: str | None
    published_at: datetime
    figures: dict[str, Any] | None = None


@dataclass(frozen=True)
class Choice:
    """Something a video can anchor: a product or a deal of the merchant (`value` is `product:<id>` / `deal:<id>`)."""

    value: str
    title: str
    kind: str


@dataclass
class VideosPage:
    """`/seller/videos`: a page of the merchant's videos, and the publish form with what it can anchor."""

    videos: list[VideoRow]
    next_cursor: str | None
    cursor: str | None
    choices: list[Choice]
    deals_unavailable: bool
    hosts: list[str]
    form: Form
    key: str


@dataclass
class CustomerRow:
    person_id: str
    segment: str
    recency_days: int | None
    last_paid_at: datetime | None
    frequency: int
    monetary_minor: int
    currency: str | None


@dataclass
class CustomersPage:
    """`/seller/customers`: a page of the merchant's customers of one segment (all when none)."""

    segment: str | None
    customers: list[CustomerRow]
    next_cursor: str | None
    cursor: str | None
    computed_at: datetime | None
    now: datetime
    refusal: str | None = None
