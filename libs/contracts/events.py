"""Integration events: facts in the past tense, one subject each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

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
    amount_minor: int
    room_id: str | None = None


class OrderFacts(Event, frozen=True, kw_only=True):
    """What every order event says: which order, whose, from whom, and what is in it."""

    order_id: str
    checkout_id: str
    buyer_id: str
    merchant_id: str
    lines: list[OrderLine]


class OrderPlaced(OrderFacts, frozen=True, kw_only=True):
    """Checkout created an order awaiting payment; stock is reserved for it."""

    SUBJECT: ClassVar[str] = "orders.order.placed.v1"
    payment_id: str
    amount_minor: int
    currency: str
    pay_by: datetime


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
