"""What the rooms API answers with: rooms, their bag and pin, visits, stats and the state a viewer's screen shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

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


class BagEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A product (`product_id`) or a deal (`deal_id`) linked to a room."""

    room_id: str
    position: int
    added_at: datetime
    product_id: str | None = None
    deal_id: str | None = None


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


class BagDeal(msgspec.Struct, kw_only=True):
    """A local_life deal in the bag: vouchers for a store visit, bought like a product (`on_sale` false once ended).

    Deal entries say `kind: "deal"`; product entries (`BagItem`) predate deals and carry no `kind`.
    """

    kind: Literal["deal"] = "deal"
    deal_id: str
    title: str
    position: int
    pinned: bool
    price_minor: int
    original_value_minor: int
    currency: str
    vouchers_per_purchase: int
    # Team-buy deals: the members a team needs.
    team_size: int | None
    on_sale: bool


# A dataclass, not a Struct: msgspec describes a union of Structs only when every member carries a tag, and product
# entries predate deals (no `kind`); msgspec encodes a dataclass exactly as it would the Struct.
@dataclass(kw_only=True)
class Bag:
    """The bag in order, products and deals; a pinned deal is the entry with `pinned` true (`pinned_product_id` names
    only a product)."""

    items: list[BagItem | BagDeal]
    pinned_product_id: str | None


class Pin(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The room's pinned product or deal (`product_id` null and no `deal_id`: nothing pinned)."""

    room_id: str
    product_id: str | None
    deal_id: str | None = None


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
    # Vouchers of local_life deals sold in the room: each counted once (a multi-visit card is several).
    vouchers_sold: int
    vouchers_redeemed: int
    vouchers_refunded: int
    vouchers_expired: int
    sessions: list[SessionStats]


@dataclass(kw_only=True)  # a dataclass for the reason Bag is one: `pinned` is a product or a deal
class RoomState:
    """Everything a viewer's screen shows, as of feed event `seq` (the feed's first event)."""

    room: Room
    pinned: BagItem | BagDeal | None
    sales: list[Any]
    coupon_drops: list[Any]
    concurrent_viewers: int
    seq: int


class Caller(msgspec.Struct, kw_only=True):
    """Who the bearer token says the caller is (`POST /echo`)."""

    sub: str
    role: str


class PinnedSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What a listing shows of a room's pinned product (`product_id`; the lowest SKU price) or deal (`deal_id`)."""

    kind: Literal["product", "deal"]
    title: str
    price_minor: int | None
    currency: str | None
    product_id: str | None = None
    deal_id: str | None = None


class RoomListing(msgspec.Struct, kw_only=True):
    """A room in a listing (live now, scheduled, a host's page)."""

    room_id: str
    title: str
    cover_url: str | None
    host_id: str
    merchant_id: str
    status: str
    # Present viewers now (0 unless live).
    concurrent_viewers: int
    pinned: PinnedSummary | None
    scheduled_start_at: datetime | None


class RoomPage(msgspec.Struct, kw_only=True):
    """One page of rooms; pass `next_cursor` back as `cursor` for the next."""

    items: list[RoomListing]
    next_cursor: str | None = None


class HostPage(msgspec.Struct, kw_only=True):
    """A host as buyers see them: fans, rooms (live, then scheduled, then recently ended), their newest short videos
    (each as `GET /videos` lists it), and whether I follow."""

    host_id: str
    fans: int
    following: bool
    rooms: list[RoomListing]
    videos: list[dict[str, Any]] = []


class FollowedHost(msgspec.Struct, kw_only=True):
    host_id: str
    followed_at: datetime
    fans: int
    # The host has a room live now.
    live: bool


class FollowingPage(msgspec.Struct, kw_only=True):
    """Hosts the buyer follows, newest follow first; pass `next_cursor` back as `cursor` for the next."""

    items: list[FollowedHost]
    next_cursor: str | None = None


class MerchantRoom(msgspec.Struct, kw_only=True):
    """A room in its merchant's listing (`GET /merchants/{id}/rooms`): announced or not, and its last session."""

    room_id: str
    title: str
    cover_url: str | None
    host_id: str
    merchant_id: str
    status: str
    scheduled_start_at: datetime | None
    created_at: datetime
    # Times the room has been live, and the last of them (null before the first; `ended_at` null while live).
    sessions: int
    last_started_at: datetime | None
    last_ended_at: datetime | None
    # Present viewers now (0 unless live).
    concurrent_viewers: int


class MerchantRoomPage(msgspec.Struct, kw_only=True):
    """One page of a merchant's rooms of one status; pass `next_cursor` back as `cursor` for the next."""

    items: list[MerchantRoom]
    next_cursor: str | None = None
