"""Pure rules of live rooms: who may touch a room, what may go in its bag, what a paid order counts for."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
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
    skus: list[BagSku]


class Bag(msgspec.Struct, kw_only=True):
    items: list[BagItem]


class View(msgspec.Struct, kw_only=True):
    """One counted join."""

    room_id: str
    viewer_id: str
    joined_at: datetime


class RoomStats(msgspec.Struct, kw_only=True):
    room_id: str
    views: int
    unique_viewers: int
    paid_orders: int
    paid_amount_minor: int
    currency: str | None


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


def ensure_room_host(room: Room, principal: Principal) -> None:
    """Only the room's own host changes what the room offers."""
    if principal.sub != room.host_id:
        raise Problem(403, "not-room-host", "only the room's host may change its bag")


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


def may_read_stats(room: Room, principal: Principal) -> bool:
    """The room's host, or the merchant the room sells for."""
    if principal.role == "host":
        return principal.sub == room.host_id
    if principal.role == "merchant":
        return principal.merchant_id is not None and canonical_uuid(principal.merchant_id) == room.merchant_id
    return False


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
