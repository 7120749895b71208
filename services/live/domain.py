"""Pure rules of live rooms: who may control a room, its lifecycle, its bag and pin, presence, paid orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from libs.auth import Principal
from libs.contracts import OrderLine
from libs.ids import canonical_uuid
from libs.web.problems import Problem


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


class ReplicaProduct(msgspec.Struct, kw_only=True):
    """What live knows of a shop product (from shop's events)."""

    product_id: str
    merchant_id: str


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


class View(msgspec.Struct, kw_only=True):
    """A viewer's presence in the room's current session."""

    room_id: str
    session_id: str
    viewer_id: str
    joined_at: datetime
    last_seen_at: datetime
    # Without a heartbeat by then the view counts as left at `last_seen_at`.
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


# A view without a heartbeat for this long counts as left at its last heartbeat (clients beat every ~15 s).
PRESENCE_TIMEOUT_S = 45
# How often a live session's stale views are written down as left.
SWEEP_EVERY_S = 15


def stale_before(now: datetime) -> datetime:
    """Views last seen before this instant are no longer present."""
    return now - timedelta(seconds=PRESENCE_TIMEOUT_S)


def expires_at(last_seen_at: datetime) -> datetime:
    return last_seen_at + timedelta(seconds=PRESENCE_TIMEOUT_S)


def room_not_found() -> Problem:
    """The one answer for an unknown room and for a room whose private data is someone else's."""
    return Problem(404, "not-found", "no such room")


def room_merchant(host: Principal, asked: str | None) -> str:
    """The merchant a host's new room sells for: the one its token names; naming another is refused."""
    own = canonical_uuid(host.merchant_id) if host.merchant_id else None
    if own is None:
        raise Problem(403, "host-not-linked-to-merchant", "this host token names no merchant to stream for")
    if asked is not None and canonical_uuid(asked) != own:
        raise Problem(
            403, "not-your-merchant", "a host opens rooms only for the merchant its token names", field="merchant_id"
        )
    return own


def is_room_staff(room: Room, principal: Principal) -> bool:
    """The room's own host, or the merchant the room sells for (another host of that merchant is not)."""
    if principal.role == "host":
        return principal.sub == room.host_id
    if principal.role == "merchant":
        return principal.merchant_id is not None and canonical_uuid(principal.merchant_id) == room.merchant_id
    return False


def ensure_room_staff(room: Room, principal: Principal) -> None:
    """Room controls, bag and pin belong to the room's host and its merchant."""
    if not is_room_staff(room, principal):
        raise Problem(403, "not-your-room", "only the room's host or the merchant it sells for may do this")


def ensure_may_start(room: Room) -> None:
    """A scheduled room goes live, and so does an ended one (a new session)."""
    if room.status == "live":
        raise Problem(409, "room-already-live", "the room is live already")


def ensure_live(room: Room) -> None:
    if room.status != "live":
        raise Problem(409, "room-not-live", f"the room is {room.status}, not live")


def ensure_may_edit(room: Room) -> None:
    """Title, cover and schedule change until the room has ended."""
    if room.status == "ended":
        raise Problem(409, "room-ended", "an ended room keeps its title, cover and schedule")


def ensure_bag_order(bag: Sequence[str], asked: Sequence[str]) -> None:
    """A new order names every product of the bag exactly once, and nothing else."""
    if len(asked) != len(set(asked)) or set(asked) != set(bag):
        raise Problem(
            422,
            "bag-order-mismatch",
            "product_ids must list each product of the bag exactly once",
            field="product_ids",
            bag=list(bag),
        )


def ensure_in_bag(bag: Sequence[str], product_id: str) -> None:
    if product_id not in bag:
        raise Problem(422, "product-not-in-bag", "only a product in the room's bag can be pinned", field="product_id")


def ensure_product_fits_room(room: Room, product: ReplicaProduct | None) -> ReplicaProduct:
    """A bag holds products live has heard of, sold by the room's merchant."""
    if product is None:
        raise Problem(
            409,
            "product-unknown",
            "live has not seen this product yet (shop's event may still be on its way); retry shortly",
            field="product_id",
        )
    if product.merchant_id != room.merchant_id:
        raise Problem(
            422,
            "product-not-from-room-merchant",
            "the product is sold by another merchant than the room's",
            field="product_id",
        )
    return product


def room_amounts(lines: Iterable[OrderLine]) -> dict[str, int]:
    """Paid amount per room among an order's lines; lines without a well-formed room id count nowhere."""
    totals: dict[str, int] = {}
    for line in lines:
        room_id = canonical_uuid(line.room_id) if line.room_id else None
        if room_id is not None:
            totals[room_id] = totals.get(room_id, 0) + line.amount_minor
    return totals


def bag_skus(snapshots: Iterable[Mapping[str, Any]], stock: Mapping[str, int]) -> list[BagSku]:
    """A product's SKUs with the newest stock live knows (the product's own snapshot if it knows none)."""
    skus = []
    for sku in snapshots:
        available = stock.get(canonical_uuid(sku["sku_id"]) or sku["sku_id"], sku.get("stock_available", 0))
        skus.append(
            BagSku(
                sku_id=sku["sku_id"],
                name=sku["name"],
                price_minor=sku["price_minor"],
                currency=sku["currency"],
                stock_available=available,
                in_stock=available > 0,
            )
        )
    return skus
