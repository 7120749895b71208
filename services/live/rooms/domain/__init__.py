"""Pure rules of live rooms: who may control a room, its lifecycle, its bag and pin (products and deals), presence,
paid orders."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import msgspec

from libs.auth import Principal
from libs.contracts import SOURCE_NOT_SELLING, SOURCE_OK, SOURCE_UNKNOWN_ROOM, OrderLine, RefundLine
from libs.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from libs.ids import canonical_uuid
from services.live.rooms.views import BagSku, Room


class ReplicaProduct(msgspec.Struct, kw_only=True):
    """What live knows of a shop product (from shop's events)."""

    product_id: str
    merchant_id: str


class ReplicaDeal(msgspec.Struct, kw_only=True):
    """What live knows of a local_life deal (from its events): whose it is and whether it is still on sale."""

    deal_id: str
    merchant_id: str
    status: str


# What a bag entry is: a shop product or a local_life deal.
PRODUCT = "product"
DEAL = "deal"


class BagRef(msgspec.Struct, frozen=True):
    """One entry of a room's bag by kind and id (on the wire `{"product_id": ...}` or `{"deal_id": ...}`)."""

    kind: str
    id: str

    def wire(self) -> dict[str, str]:
        return {f"{self.kind}_id": self.id}


# Kinds of room feed events the rooms area writes (flash sales and coupon drops add their own; docs/ARCHITECTURE.md,
# "Room feed").
ROOM_STARTED = "room.started"
ROOM_ENDED = "room.ended"
ROOM_UPDATED = "room.updated"
BAG_CHANGED = "bag.changed"
PIN_CHANGED = "pin.changed"
# Not from the outbox: each instance reads the count for its own clients (see adapters/feed_hub.py).
VIEWERS = "viewers"

# A visit without a heartbeat for this long counts as left at its last heartbeat (clients beat every ~15 s).
PRESENCE_TIMEOUT_S = 45
# How often a live session's stale visits are written down as left.
SWEEP_EVERY_S = 15
# Due job closing a live session's stale visits (see use_cases/visits.py, sweep_presence).
PRESENCE_SWEEP = "presence_sweep"


# --- refusals ---------------------------------------------------------------------------------


class RoomNotFound(NotFound):
    """The one answer for an unknown room (someone else's room is `NotYourRoom`: rooms themselves are public)."""

    code = "not-found"

    def __init__(self, detail: str = "no such room") -> None:
        super().__init__(detail)


class HostNotLinkedToMerchant(Forbidden):
    code = "host-not-linked-to-merchant"

    def __init__(self) -> None:
        super().__init__("this host token names no merchant to stream for")


class NotYourMerchant(Forbidden):
    code = "not-your-merchant"

    def __init__(self) -> None:
        super().__init__("a room is opened only for the merchant the token names", field="merchant_id")


class NotYourHostId(Invalid):
    code = "not-your-host-id"

    def __init__(self) -> None:
        super().__init__("a host opens rooms as themselves: leave host_id out", field="host_id")


class HostIdRequired(Invalid):
    code = "host-id-required"

    def __init__(self) -> None:
        super().__init__("a merchant names the host of the room it schedules (host_id)", field="host_id")


class UnknownHost(Invalid):
    """A merchant names the host of a new room: one who has hosted its rooms (live knows hosts by their rooms)."""

    code = "unknown-host"

    def __init__(self) -> None:
        super().__init__("the merchant has no room hosted by this host", field="host_id")


class NotYourRoom(Forbidden):
    """Room controls, bag, pin, sales and drops belong to the room's host and its merchant."""

    code = "not-your-room"

    def __init__(self, detail: str = "only the room's host or the merchant it sells for may do this") -> None:
        super().__init__(detail)


class RoomAlreadyLive(Conflict):
    code = "room-already-live"

    def __init__(self) -> None:
        super().__init__("the room is live already")


class RoomNotLive(Conflict):
    code = "room-not-live"


class RoomEnded(Conflict):
    code = "room-ended"


class NotWatching(Conflict):
    code = "not-watching"

    def __init__(self) -> None:
        super().__init__("no present view of this room (left, or silent too long): join again")


class BagOrderMismatch(Invalid):
    code = "bag-order-mismatch"

    def __init__(self, bag: Sequence[BagRef], *, by_items: bool) -> None:
        if by_items:
            super().__init__(
                "items must list each entry of the bag exactly once", field="items", bag=[r.wire() for r in bag]
            )
        elif any(r.kind == DEAL for r in bag):
            super().__init__(
                "the bag holds deals too: order it with items ([{product_id} | {deal_id}])",
                field="product_ids",
                bag=[r.id for r in bag if r.kind == PRODUCT],
            )
        else:
            super().__init__(
                "product_ids must list each product of the bag exactly once",
                field="product_ids",
                bag=[r.id for r in bag],
            )


class ProductNotInBag(Invalid):
    code = "product-not-in-bag"

    def __init__(self) -> None:
        super().__init__("only a product in the room's bag can be pinned", field="product_id")


class DealNotInBag(Invalid):
    code = "deal-not-in-bag"

    def __init__(self) -> None:
        super().__init__("only a deal in the room's bag can be pinned", field="deal_id")


class BagItemNotFound(NotFound):
    code = "not-found"

    def __init__(self, kind: str = PRODUCT) -> None:
        super().__init__(f"this {kind} is not in the room's bag")


class ProductOrDeal(Invalid):
    """A bag entry is a product or a deal: the request names exactly one of them."""

    code = "product-or-deal"

    def __init__(self, field: str = "product_id") -> None:
        super().__init__("name exactly one of product_id and deal_id", field=field)


class ProductIdsOrItems(Invalid):
    code = "product-ids-or-items"

    def __init__(self) -> None:
        super().__init__("order the bag by product_ids or by items, not both", field="items")


class Unsaid(BadRequest):
    """A required choice missing from the body (400, as a body that does not decode)."""

    code = "validation-failed"


class DealUnknown(Conflict):
    code = "deal-unknown"

    def __init__(self) -> None:
        super().__init__(
            "live has not seen this deal published yet (local_life's event may still be on its way); retry shortly",
            field="deal_id",
        )


class DealOffSale(Conflict):
    """The deal has ended (a refusal; not the `DealEnded` event it learns that from)."""

    code = "deal-ended"

    def __init__(self) -> None:
        super().__init__("the deal has ended: it can no longer be bought", field="deal_id")


class DealNotFromRoomMerchant(Invalid):
    code = "deal-not-from-room-merchant"

    def __init__(self) -> None:
        super().__init__("the deal is sold by another merchant than the room's", field="deal_id")


class ProductUnknown(Conflict):
    code = "product-unknown"

    def __init__(self) -> None:
        super().__init__(
            "live has not seen this product yet (shop's event may still be on its way); retry shortly",
            field="product_id",
        )


class ProductNotFromRoomMerchant(Invalid):
    code = "product-not-from-room-merchant"

    def __init__(self) -> None:
        super().__init__("the product is sold by another merchant than the room's", field="product_id")


# --- rules ------------------------------------------------------------------------------------


def stale_before(now: datetime) -> datetime:
    """Visits last seen before this instant are no longer present."""
    return now - timedelta(seconds=PRESENCE_TIMEOUT_S)


def expires_at(last_seen_at: datetime) -> datetime:
    return last_seen_at + timedelta(seconds=PRESENCE_TIMEOUT_S)


def room_owners(caller: Principal, asked_merchant: str | None, asked_host: str | None) -> tuple[str, str]:
    """(merchant, host) of a new room. A host opens rooms as themselves for the merchant its token names; a merchant
    schedules one for itself, naming the host (`host_id`; the use case checks the host has hosted its rooms, as a
    merchant's video does). Naming another merchant is refused either way."""
    own = canonical_uuid(caller.merchant_id) if caller.merchant_id else None
    if own is None:
        raise HostNotLinkedToMerchant()
    if asked_merchant is not None and canonical_uuid(asked_merchant) != own:
        raise NotYourMerchant()
    if caller.role == "host":
        if asked_host is not None and asked_host != caller.sub:
            raise NotYourHostId()
        return own, caller.sub
    if asked_host is None:
        raise HostIdRequired()
    return own, asked_host


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
        raise NotYourRoom()


def ensure_may_start(room: Room) -> None:
    """A scheduled room goes live, and so does an ended one (a new session)."""
    if room.status == "live":
        raise RoomAlreadyLive()


def ensure_live(room: Room) -> None:
    if room.status != "live":
        raise RoomNotLive(f"the room is {room.status}, not live")


def ensure_may_edit(room: Room) -> None:
    """Title, cover and schedule change until the room has ended."""
    if room.status == "ended":
        raise RoomEnded("an ended room keeps its title, cover and schedule")


def bag_ref(product_id: str | None, deal_id: str | None, field: str = "product_id") -> BagRef:
    """The one entry a request names: a product or a deal, never both or neither."""
    if (product_id is None) == (deal_id is None):
        raise ProductOrDeal(field)
    return BagRef(PRODUCT, product_id) if product_id is not None else BagRef(DEAL, deal_id)  # type: ignore[arg-type]


def pin_target(said: Mapping[str, str | None]) -> BagRef | None:
    """What a pin names (the members the body has): a product, a deal, or nothing (`product_id: null` or
    `deal_id: null` unpins). Unpinning is said out loud, not implied by an empty body."""
    named = [(kind, said[f"{kind}_id"]) for kind in (PRODUCT, DEAL) if f"{kind}_id" in said]
    if not named:
        raise Unsaid("say which product_id (or deal_id) to pin, or product_id: null to unpin", field="product_id")
    if len(named) > 1:
        raise ProductOrDeal()
    kind, value = named[0]
    return BagRef(kind, value) if value is not None else None


def bag_order(product_ids: Sequence[str] | None, items: Sequence[tuple[str | None, str | None]] | None) -> list[BagRef]:
    """The order asked for: by `product_ids` (a bag of products, as before deals) or by `items` (any bag)."""
    if product_ids is None and items is None:
        raise Unsaid("give the bag's new order as product_ids or items", field="product_ids")
    if product_ids is not None and items is not None:
        raise ProductIdsOrItems()
    if product_ids is not None:
        return [BagRef(PRODUCT, p) for p in product_ids]
    return [bag_ref(p, d, f"items[{i}]") for i, (p, d) in enumerate(items or [])]


def ensure_bag_order(bag: Sequence[BagRef], asked: Sequence[BagRef], *, by_items: bool) -> None:
    """A new order names every entry of the bag exactly once, and nothing else."""
    if len(asked) != len(set(asked)) or set(asked) != set(bag):
        raise BagOrderMismatch(bag, by_items=by_items)


def ensure_in_bag(bag: Sequence[BagRef], ref: BagRef) -> None:
    if ref not in bag:
        raise DealNotInBag() if ref.kind == DEAL else ProductNotInBag()


def ensure_product_fits_room(room: Room, product: ReplicaProduct | None) -> ReplicaProduct:
    """A bag holds products live has heard of, sold by the room's merchant."""
    if product is None:
        raise ProductUnknown()
    if product.merchant_id != room.merchant_id:
        raise ProductNotFromRoomMerchant()
    return product


def ensure_deal_fits_room(room: Room, deal: ReplicaDeal | None) -> ReplicaDeal:
    """A bag holds deals live has heard published, of the room's merchant, still on sale."""
    if deal is None:
        raise DealUnknown()
    if deal.merchant_id != room.merchant_id:
        raise DealNotFromRoomMerchant()
    if deal.status != "published":
        raise DealOffSale()
    return deal


def source_verdict(room_merchant_id: str | None, merchant_id: str) -> str:
    """Whether a line of `merchant_id`'s product may name a room that sells for `room_merchant_id` (None: no room).

    The rule room sales count by (`store.room_sales.add_room_sale`): a room sells its merchant's products, bag or
    not (a host may show what is not in the bag; the bag changes during a session). Checking at checkout by the
    same rule means a verified source is a counted one.
    """
    if room_merchant_id is None:
        return SOURCE_UNKNOWN_ROOM
    if canonical_uuid(merchant_id) != room_merchant_id:
        return SOURCE_NOT_SELLING
    return SOURCE_OK


def room_amounts(lines: Iterable[OrderLine] | Iterable[RefundLine]) -> dict[str, int]:
    """Amount per room among an order's lines (paid) or a refund's lines (refunded); lines without a well-formed
    room id count nowhere."""
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
