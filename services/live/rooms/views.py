"""What the rooms API answers with: rooms, their bag and pin, visits, stats and the state a viewer's screen shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Room(msgspec.Struct, kw_only=True):
    """A live room as everyone may see it."""

    room_id: str
    host_id: str
    merchant_id: str
    title: str
    cover_url: str | None
    status: str
    scheduled_start_at: datetime | None
    created_at: datetime


class BagEntry(msgspec.Struct, kw_only=True):
    """A product linked to a room."""

    room_id: str
    product_id: str
    position: int
    added_at: datetime


class BagSku(msgspec.Struct, kw_only=True):
    sku_id: str
    name: str
    price_minor: int
    currency: str
    stock_available: int
    in_stock: bool


class BagItem(msgspec.Struct, kw_only=True):
    product_id: str
    title: str
    position: int
    pinned: bool
    skus: list[BagSku]


class Bag(msgspec.Struct, kw_only=True):
    items: list[BagItem]
    pinned_product_id: str | None


class Pin(msgspec.Struct, kw_only=True):
    """The room's pinned product (null: nothing pinned)."""

    room_id: str
    product_id: str | None


class Visit(msgspec.Struct, kw_only=True):
    """A viewer's presence in the room's current session."""

    room_id: str
    session_id: str
    viewer_id: str
    joined_at: datetime
    last_seen_at: datetime
    # Without a heartbeat by then the visit counts as left at `last_seen_at`.
    expires_at: datetime


class SessionStats(msgspec.Struct, kw_only=True):
    """One time the room was live, and who watched it."""

    session_id: str
    number: int
    started_at: datetime
    ended_at: datetime | None
    concurrent_viewers: int
    peak_concurrent_viewers: int
    unique_viewers: int
    views: int
    average_watch_s: float


class RoomStats(msgspec.Struct, kw_only=True):
    room_id: str
    views: int
    unique_viewers: int
    concurrent_viewers: int
    paid_orders: int
    paid_amount_minor: int
    # Refunds of the room's sales (each once; `refunded_orders`: distinct orders) and what they paid back;
    # `net_amount_minor` = paid_amount_minor - refunded_amount_minor.
    refunds: int
    refunded_orders: int
    refunded_amount_minor: int
    net_amount_minor: int
    currency: str | None
    sessions: list[SessionStats]


class RoomState(msgspec.Struct, kw_only=True):
    """Everything a viewer's screen shows, as of feed event `seq` (the feed's first event)."""

    room: Room
    pinned: BagItem | None
    sales: list[Any]
    coupon_drops: list[Any]
    concurrent_viewers: int
    seq: int


class Caller(msgspec.Struct, kw_only=True):
    """Who the bearer token says the caller is (`POST /echo`)."""

    sub: str
    role: str
