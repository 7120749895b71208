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


__all__ = [
    "SOURCE_NOT_SELLING",
    "SOURCE_OK",
    "SOURCE_UNKNOWN_ROOM",
    "VERIFY_ROOM_SOURCES",
    "Admission",
    "CouponClaimed",
    "FlashSaleAdmitted",
    "FlashSaleUnitsReturned",
    "RoomFeed",
    "RoomSource",
    "VerifyRoomSources",
    "VerifyRoomSourcesReply",
]
