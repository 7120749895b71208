"""Reservation rules for checkout: validating and merging the items, pricing the lines, answering a repeat.

Refusals here (`ReservationRefused`) become the reply orders gets over request/reply, not HTTP answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from libs.contracts import OrderLine, ReservedLine, ReserveItem, ReserveStockReply
from libs.ids import is_uuid
from services.shop.domain.stock import MAX_QUANTITY, SkuFacts


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
    video_id: str | None = None


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
            merged[key] = WantedLine(key, item.quantity, i, item.room_id, item.video_id)
            continue
        total = before.quantity + item.quantity
        if total > MAX_QUANTITY:
            raise ReservationRefused("invalid_quantity", f"SKU {key} is asked for {total} times in all", i)
        merged[key] = WantedLine(
            key, total, before.index, before.room_id or item.room_id, before.video_id or item.video_id
        )
    return list(merged.values())


def price_lines(
    wanted: Sequence[WantedLine], skus: dict[str, SkuFacts], cart_sources: dict[str, tuple[str, str]]
) -> list[ReservedLine]:
    """Priced lines from our own table (never the caller's prices); the room and video come from the item, else
    (an item naming neither) from the cart line's source (`cart_sources`: SKU -> (type, id))."""
    lines: list[ReservedLine] = []
    for want in wanted:
        facts = skus.get(want.sku_id)
        if facts is None or not facts.published:
            raise ReservationRefused("unknown_sku", f"items[{want.index}]: no SKU {want.sku_id} for sale", want.index)
        room_id, video_id = want.room_id, want.video_id
        if room_id is None and video_id is None:
            kind, source_id = cart_sources.get(want.sku_id, (None, None))
            room_id, video_id = (source_id if kind == "room" else None), (source_id if kind == "video" else None)
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
                room_id=room_id,
                video_id=video_id,
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

    Flash-sale lines are left out: their units come from the sale's allocation, never a reservation. So are deal lines
    (local_life holds those; their `sku_id` is the deal's id).
    """
    return sorted(
        {
            str(uuid.UUID(line.sku_id))
            for line in lines
            if is_uuid(line.sku_id) and not line.flash_sale_id and not line.deal_id
        }
    )
