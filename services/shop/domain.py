"""Pure shop rules: catalogue checks, SKU edits, how a reservation is planned. No I/O."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from libs.contracts import (
    AllocateStock,
    AllocateStockReply,
    OrderLine,
    ProductPublished,
    ProductUpdated,
    ReservedLine,
    ReserveItem,
    ReserveStockReply,
    SkuSnapshot,
    StockChanged,
)
from libs.ids import canonical_uuid, is_uuid
from libs.web.problems import Problem
from services.shop.views import ProductView

# Above this a quantity is a typo or an attack, and it would overflow the int columns.
MAX_QUANTITY = 1_000_000


# --- catalogue --------------------------------------------------------------------


def check_new_skus(merchant_currency: str, skus: Sequence[tuple[str, str | None]]) -> None:
    """SKUs of a new product: unique names, priced in the merchant's currency (422 naming the SKU)."""
    seen: set[str] = set()
    for i, (name, currency) in enumerate(skus):
        if currency is not None and currency != merchant_currency:
            raise Problem(
                422,
                "currency-mismatch",
                f"this merchant sells in {merchant_currency}; SKU {name!r} is priced in {currency}",
                field=f"skus[{i}].currency",
            )
        if name in seen:
            raise Problem(422, "duplicate-sku-name", f"two SKUs are named {name!r}", field=f"skus[{i}].name")
        seen.add(name)


@dataclass(frozen=True)
class SkuEdit:
    """A change a merchant asked for on one field of a SKU."""

    field: str
    old_value: int
    new_value: int


def plan_sku_edit(
    *, price_minor: int, stock_on_hand: int, stock_reserved: int, new_price: int | None, new_on_hand: int | None
) -> list[SkuEdit]:
    """The edits that actually change something; stock may not drop below what buyers hold (409)."""
    edits: list[SkuEdit] = []
    if new_price is not None and new_price != price_minor:
        edits.append(SkuEdit("price_minor", price_minor, new_price))
    if new_on_hand is not None and new_on_hand != stock_on_hand:
        if new_on_hand < stock_reserved:
            raise Problem(
                409,
                "stock-below-reserved",
                f"{stock_reserved} units are reserved by buyers; stock on hand cannot go below that",
                field="stock_on_hand",
                stock_reserved=stock_reserved,
            )
        edits.append(SkuEdit("stock_on_hand", stock_on_hand, new_on_hand))
    return edits


def _snapshots(product: ProductView) -> list[SkuSnapshot]:
    return [
        SkuSnapshot(
            sku_id=s.sku_id,
            name=s.name,
            price_minor=s.price_minor,
            currency=s.currency,
            stock_available=s.stock_available,
        )
        for s in product.skus
    ]


def _state(product: ProductView) -> dict[str, object]:
    return {
        "product_id": product.product_id,
        "merchant_id": product.merchant_id,
        "title": product.title,
        "description": product.description,
        "version": product.version,
        "skus": _snapshots(product),
    }


def published(product: ProductView) -> ProductPublished:
    """The event announcing a new product, carrying all of it."""
    return ProductPublished(**_state(product))  # type: ignore[arg-type]


def updated(product: ProductView) -> ProductUpdated:
    """The event announcing a product's new state (full snapshot, newest version wins)."""
    return ProductUpdated(**_state(product))  # type: ignore[arg-type]


@dataclass(frozen=True)
class StockLevel:
    """A SKU's counts right after a change."""

    sku_id: str
    product_id: str
    merchant_id: str
    stock_on_hand: int
    stock_reserved: int


def stock_changed(level: StockLevel) -> StockChanged:
    """The event announcing a SKU's new stock counts."""
    return StockChanged(
        sku_id=level.sku_id,
        product_id=level.product_id,
        merchant_id=level.merchant_id,
        stock_on_hand=level.stock_on_hand,
        stock_reserved=level.stock_reserved,
        stock_available=level.stock_on_hand - level.stock_reserved,
    )


# --- reservations -----------------------------------------------------------------


class ReservationRefused(Exception):
    """A reservation that cannot be made; carries the reply the caller gets."""

    def __init__(self, error: str, detail: str, item_index: int | None = None) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.item_index = item_index

    def reply(self) -> ReserveStockReply:
        return ReserveStockReply(ok=False, error=self.error, detail=self.detail, item_index=self.item_index)


@dataclass(frozen=True)
class WantedLine:
    """One SKU a checkout wants, after merging repeats; `index` is its first item in the request."""

    sku_id: str
    quantity: int
    index: int
    room_id: str | None


def merge_items(items: Sequence[ReserveItem]) -> list[WantedLine]:
    """Validate the request's items and merge repeats of a SKU, in first-seen order."""
    if not items:
        raise ReservationRefused("invalid_request", "a reservation needs at least one item")
    merged: dict[str, WantedLine] = {}
    for i, item in enumerate(items):
        if item.quantity <= 0 or item.quantity > MAX_QUANTITY:
            raise ReservationRefused(
                "invalid_quantity", f"items[{i}].quantity must be 1 to {MAX_QUANTITY}, got {item.quantity}", i
            )
        if not is_uuid(item.sku_id):
            raise ReservationRefused("unknown_sku", f"items[{i}]: no SKU {item.sku_id!r}", i)
        key = str(uuid.UUID(item.sku_id))
        before = merged.get(key)
        if before is None:
            merged[key] = WantedLine(key, item.quantity, i, item.room_id)
            continue
        total = before.quantity + item.quantity
        if total > MAX_QUANTITY:
            raise ReservationRefused("invalid_quantity", f"SKU {key} is asked for {total} times in all", i)
        merged[key] = WantedLine(key, total, before.index, before.room_id or item.room_id)
    return list(merged.values())


@dataclass(frozen=True)
class SkuFacts:
    """What a reservation needs to know about a SKU: who sells it, what it is called, its price."""

    sku_id: str
    product_id: str
    merchant_id: str
    title: str
    sku_name: str
    price_minor: int
    currency: str
    published: bool


def price_lines(
    wanted: Sequence[WantedLine], skus: dict[str, SkuFacts], cart_rooms: dict[str, str]
) -> list[ReservedLine]:
    """Priced lines from our own table (never the caller's prices); the room comes from the item, else the cart."""
    lines: list[ReservedLine] = []
    for want in wanted:
        facts = skus.get(want.sku_id)
        if facts is None or not facts.published:
            raise ReservationRefused("unknown_sku", f"items[{want.index}]: no SKU {want.sku_id} for sale", want.index)
        lines.append(
            ReservedLine(
                sku_id=facts.sku_id,
                product_id=facts.product_id,
                merchant_id=facts.merchant_id,
                title=facts.title,
                sku_name=facts.sku_name,
                quantity=want.quantity,
                unit_price_minor=facts.price_minor,
                currency=facts.currency,
                room_id=want.room_id or cart_rooms.get(want.sku_id),
            )
        )
    # One checkout is one payment in one currency: refuse before holding anything.
    first = lines[0].currency if lines else None
    for want, line in zip(wanted, lines, strict=True):
        if line.currency != first:
            raise ReservationRefused(
                "mixed_currency", f"items[{want.index}]: priced in {line.currency}, the others in {first}", want.index
            )
    return lines


@dataclass(frozen=True)
class StoredReservation:
    """A checkout's reservation as stored: who made it, until when, its priced lines and their statuses."""

    buyer_id: str
    hold_until: datetime
    lines: list[ReservedLine]
    line_statuses: list[str]


def replay(found: StoredReservation, checkout_id: str, buyer_id: str, now: datetime) -> ReserveStockReply:
    """The answer to a repeated reserve: the same lines while they are still held (or paid), else `expired`."""
    if found.buyer_id != buyer_id:
        # Checkout ids are derived from the buyer, so this is a bug or a probe: say nothing about the lines.
        return ReserveStockReply(
            ok=False, error="checkout_conflict", detail="this checkout id belongs to another buyer"
        )
    # By the lines, not the reservation's own status: a payment landing after expiry commits released lines.
    released = "released" in found.line_statuses
    # Held past its deadline is as good as released: the expiry job frees those units any moment now.
    lapsing = "held" in found.line_statuses and now >= found.hold_until
    if released or lapsing:
        # Answering the old lines would let checkout go on to charge for units nobody holds any more.
        return ReserveStockReply(
            ok=False,
            error="expired",
            detail=f"checkout {checkout_id}: its hold lapsed or was released and cannot be revived; start anew",
        )
    return ReserveStockReply(ok=True, lines=found.lines)


def skus_of(lines: Sequence[OrderLine]) -> list[str]:
    """The distinct SKU ids an order's reservation lines name (sorted: a fixed lock order avoids deadlocks).

    Flash-sale lines are left out: their units come from the sale's allocation, never a reservation.
    """
    return sorted({str(uuid.UUID(line.sku_id)) for line in lines if is_uuid(line.sku_id) and not line.flash_sale_id})


# --- flash-sale allocations -------------------------------------------------------


class AllocationRefused(Exception):
    """An allocation that cannot be made; carries the reply the caller gets."""

    def __init__(self, error: str, detail: str, available: int | None = None) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.available = available

    def reply(self) -> AllocateStockReply:
        return AllocateStockReply(ok=False, error=self.error, detail=self.detail, available=self.available)


class AllocationBroken(Exception):
    """An event asks for allocation units that are not there: a bug upstream, never to be applied."""


def check_allocation(request: AllocateStock) -> tuple[str, str]:
    """Validate an allocation request; the canonical (SKU id, merchant id)."""
    if not request.allocation_id or len(request.allocation_id) > 200 or "\x00" in request.allocation_id:
        raise AllocationRefused("invalid_request", "allocation_id must be 1 to 200 characters, without NUL")
    if request.quantity < 1 or request.quantity > MAX_QUANTITY:
        raise AllocationRefused("invalid_quantity", f"quantity must be 1 to {MAX_QUANTITY}, got {request.quantity}")
    sku_id, merchant_id = canonical_uuid(request.sku_id), canonical_uuid(request.merchant_id)
    if sku_id is None or merchant_id is None:
        raise AllocationRefused("unknown_sku", f"merchant {request.merchant_id} has no SKU {request.sku_id!r}")
    return sku_id, merchant_id


@dataclass(frozen=True)
class StoredAllocation:
    """An allocation as stored: what it holds and how much of it has been sold or given back."""

    allocation_id: str
    sku_id: str
    merchant_id: str
    quantity: int
    committed: int
    released: int


def same_allocation(found: StoredAllocation, sku_id: str, merchant_id: str, quantity: int) -> bool:
    """Whether a repeated allocate asks for exactly what the stored one holds."""
    return (found.sku_id, found.merchant_id, found.quantity) == (sku_id, merchant_id, quantity)


def allocated_reply(facts: SkuFacts) -> AllocateStockReply:
    """The answer to an allocation that holds its units: what the sale sells."""
    return AllocateStockReply(
        ok=True,
        product_id=facts.product_id,
        title=facts.title,
        sku_name=facts.sku_name,
        price_minor=facts.price_minor,
        currency=facts.currency,
    )


@dataclass(frozen=True)
class SoldFromSale:
    """Units of one SKU a paid order bought in one flash sale (its lines of that sale merged)."""

    allocation_id: str
    sku_id: str
    quantity: int


def sold_from_sales(lines: Sequence[OrderLine]) -> list[SoldFromSale]:
    """An order's flash-sale lines merged per (sale, SKU), in a fixed order (sale, SKU) for the row locks.

    Lines naming no real SKU are dropped: there is nothing of ours they could take.
    """
    merged: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.flash_sale_id and is_uuid(line.sku_id) and line.quantity > 0:
            key = (line.flash_sale_id, str(uuid.UUID(line.sku_id)))
            merged[key] = merged.get(key, 0) + line.quantity
    return [SoldFromSale(sale, sku, quantity) for (sale, sku), quantity in sorted(merged.items())]
