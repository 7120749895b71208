"""What orders announces: orders placed, paid and cancelled, checkouts abandoned."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec

from libs.contracts.base import Event


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


__all__ = [
    "CheckoutAbandoned",
    "FlashSaleOrdersPlaced",
    "OrderCancelled",
    "OrderFacts",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "PlacedOrder",
]
