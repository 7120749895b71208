"""Integration events: facts in the past tense, one subject each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import msgspec

# One JetStream stream per owning service; a service publishes only under its prefix.
STREAMS: dict[str, str] = {
    "LIVE": "live.>",
    "SHOP": "shop.>",
    "ORDERS": "orders.>",
    "AFTERSALES": "aftersales.>",
    "LOCAL": "local.>",
}


def new_event_id() -> str:
    """A fresh event id (also the JetStream `Nats-Msg-Id`)."""
    return str(uuid.uuid4())


def _now() -> datetime:
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every integration event."""

    SUBJECT: ClassVar[str] = ""
    event_id: str = msgspec.field(default_factory=new_event_id)
    occurred_at: datetime = msgspec.field(default_factory=_now)


def stream_for(subject: str) -> str:
    """Name of the stream that owns `subject` (without namespace)."""
    prefix = subject.split(".", 1)[0]
    for name, pattern in STREAMS.items():
        if pattern.split(".", 1)[0] == prefix:
            return name
    raise KeyError(f"no stream owns subject {subject!r}")


# --- shop -------------------------------------------------------------------------


class SkuSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    name: str
    price_minor: int
    currency: str
    stock_available: int


class ProductState(Event, frozen=True, kw_only=True):
    """The whole of a product as shop publishes it, so readers never need to call back."""

    product_id: str
    merchant_id: str
    title: str
    description: str = ""
    version: int = 1
    skus: list[SkuSnapshot] = []


class ProductPublished(ProductState, frozen=True, kw_only=True):
    """A merchant published a product."""

    SUBJECT: ClassVar[str] = "shop.product.published.v1"


class ProductUpdated(ProductState, frozen=True, kw_only=True):
    """A product's details, prices or SKUs changed; newest `version` wins."""

    SUBJECT: ClassVar[str] = "shop.product.updated.v1"


class StockChanged(Event, frozen=True, kw_only=True):
    """Available stock of a SKU changed (reserve, commit, release, restock)."""

    SUBJECT: ClassVar[str] = "shop.sku.stock_changed.v1"
    sku_id: str
    product_id: str
    merchant_id: str
    stock_on_hand: int
    stock_reserved: int
    stock_available: int


class StockLine(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    quantity: int


class StockCommitted(Event, frozen=True, kw_only=True):
    """Reserved units of a paid order left the warehouse count for good."""

    SUBJECT: ClassVar[str] = "shop.stock.committed.v1"
    order_id: str
    checkout_id: str
    merchant_id: str
    lines: list[StockLine] = []


class StockReleased(Event, frozen=True, kw_only=True):
    """Reserved units went back to available stock (order cancelled or hold expired)."""

    SUBJECT: ClassVar[str] = "shop.stock.released.v1"
    checkout_id: str
    order_id: str | None = None
    reason: str
    lines: list[StockLine] = []


# --- orders -----------------------------------------------------------------------


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    product_id: str
    title: str
    sku_name: str
    quantity: int
    unit_price_minor: int
    # What the buyer pays for the line: unit_price_minor * quantity - discount_minor.
    amount_minor: int
    room_id: str | None = None
    # Share of the order's coupon discount carried by this line (minor units).
    discount_minor: int = 0
    # Set on lines bought in a live flash sale: the sale (also shop's stock allocation id) and the admission.
    flash_sale_id: str | None = None
    admission_id: str | None = None


class OrderFacts(Event, frozen=True, kw_only=True):
    """What every order event says: which order, whose, from whom, and what is in it."""

    order_id: str
    checkout_id: str
    buyer_id: str
    merchant_id: str
    lines: list[OrderLine]
    # Coupon applied to this order (claimed in a live room), and what it took off the order's total.
    coupon_id: str | None = None
    discount_minor: int = 0


class OrderPlaced(OrderFacts, frozen=True, kw_only=True):
    """Checkout created an order awaiting payment; stock is reserved for it."""

    SUBJECT: ClassVar[str] = "orders.order.placed.v1"
    payment_id: str
    amount_minor: int
    currency: str
    pay_by: datetime


class PlacedOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One order of a FlashSaleOrdersPlaced batch: what OrderPlaced would say of it."""

    order_id: str
    checkout_id: str
    buyer_id: str
    merchant_id: str
    lines: list[OrderLine]
    payment_id: str
    amount_minor: int
    currency: str
    pay_by: datetime


class FlashSaleOrdersPlaced(Event, frozen=True, kw_only=True):
    """The orders made from one FlashSaleAdmitted batch, awaiting payment (their units sit in the sale).

    One event per batch rather than an OrderPlaced per order, as live does for admissions: a sale's rush
    is a thousand orders in a second, and no consumer should pay a message per order for it. Orders of a
    checkout still announce themselves one by one (OrderPlaced); both end in OrderPaid or OrderCancelled.
    """

    SUBJECT: ClassVar[str] = "orders.flash_sale.orders_placed.v1"
    sale_id: str
    room_id: str
    orders: list[PlacedOrder]


class OrderPaid(OrderFacts, frozen=True, kw_only=True):
    """Stripe confirmed the payment that covers this order."""

    SUBJECT: ClassVar[str] = "orders.order.paid.v1"
    payment_id: str
    amount_minor: int
    currency: str
    paid_at: datetime


class OrderCancelled(OrderFacts, frozen=True, kw_only=True):
    """An order will not be fulfilled; its reserved stock must go back."""

    SUBJECT: ClassVar[str] = "orders.order.cancelled.v1"
    reason: str


class CheckoutAbandoned(Event, frozen=True, kw_only=True):
    """A checkout was refused after shop had reserved its stock (e.g. its coupon was lost to a
    concurrent checkout): no order will ever use that reservation, so shop releases it now
    rather than at `hold_until`."""

    SUBJECT: ClassVar[str] = "orders.checkout.abandoned.v1"
    checkout_id: str
    buyer_id: str
    reason: str


# --- live -------------------------------------------------------------------------


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


# --- registry ---------------------------------------------------------------------


def _all_event_types() -> dict[str, type[Event]]:
    found: dict[str, type[Event]] = {}
    pending = list(Event.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.SUBJECT:
            if cls.SUBJECT in found:
                raise RuntimeError(f"two events share subject {cls.SUBJECT}")
            found[cls.SUBJECT] = cls
    return found


EVENT_TYPES: dict[str, type[Event]] = _all_event_types()

__all__ = [
    "Admission",
    "CheckoutAbandoned",
    "CouponClaimed",
    "FlashSaleAdmitted",
    "FlashSaleOrdersPlaced",
    "PlacedOrder",
    "FlashSaleUnitsReturned",
    "RoomFeed",
    "OrderCancelled",
    "OrderFacts",
    "ProductState",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "ProductPublished",
    "ProductUpdated",
    "SkuSnapshot",
    "StockChanged",
    "StockCommitted",
    "StockLine",
    "StockReleased",
]
