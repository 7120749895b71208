"""What orders announces: orders placed, paid, cancelled, shipped, delivered and completed; checkouts abandoned;
refunds requested, made and failed."""

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
    # The short video the line was bought from (a cart line's `video` source or the checkout item's `video_id`).
    video_id: str | None = None
    # Share of the order's coupon discount carried by this line (minor units).
    discount_minor: int = 0
    # Set on lines bought in a live flash sale: the sale (also shop's stock allocation id) and the admission.
    flash_sale_id: str | None = None
    admission_id: str | None = None
    # Set on lines that buy a local-life group-buy deal (local_life issues its vouchers when the order is paid). Such a
    # line has `sku_id` = `product_id` = `deal_id` and is never shipped: its units count as shipped when its vouchers
    # are issued (local.vouchers.issued.v1).
    deal_id: str | None = None
    # Set on a team-buy deal line: the team its seat is in (vouchers are issued when the team fills).
    team_id: str | None = None


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


class ShippedLine(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    sku_id: str
    quantity: int


class OrderShipped(OrderFacts, frozen=True, kw_only=True):
    """The merchant shipped some or all units of a paid order (one event per shipment)."""

    SUBJECT: ClassVar[str] = "orders.order.shipped.v1"
    shipment_id: str
    carrier: str
    tracking_number: str
    shipped_lines: list[ShippedLine]
    # Nothing is left to ship after this shipment.
    fully_shipped: bool
    shipped_at: datetime


class OrderDelivered(OrderFacts, frozen=True, kw_only=True):
    """Every shipment of the order was delivered and nothing is left to ship."""

    SUBJECT: ClassVar[str] = "orders.order.delivered.v1"
    delivered_at: datetime


class OrderCompleted(OrderFacts, frozen=True, kw_only=True):
    """The buyer confirmed receipt, or the auto-completion deadline passed with no after-sales case open."""

    SUBJECT: ClassVar[str] = "orders.order.completed.v1"
    # `buyer` or `auto`.
    by: str
    completed_at: datetime


class CancelledLine(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    sku_id: str
    quantity: int
    flash_sale_id: str | None = None


class OrderCancelledAfterPayment(OrderFacts, frozen=True, kw_only=True):
    """Paid units that had not shipped are cancelled and refunded (the buyer's cancel before shipment, or after the
    ship-by deadline): shop puts them back on hand. `whole_order`: nothing had shipped, the order is cancelled."""

    SUBJECT: ClassVar[str] = "orders.order.cancelled_after_payment.v1"
    reason: str
    cancelled_lines: list[CancelledLine]
    whole_order: bool
    grant_id: str


class RefundLine(msgspec.Struct, frozen=True, kw_only=True):
    """Units of one order line a refund pays back, and what they cost the buyer (their share of the discount off)."""

    line_no: int
    sku_id: str
    quantity: int
    amount_minor: int
    room_id: str | None = None
    flash_sale_id: str | None = None


class RefundFacts(Event, frozen=True, kw_only=True):
    """What every refund event says: which grant, which order, whose money, which units and where they were sold."""

    grant_id: str
    case_id: str | None = None
    order_id: str
    checkout_id: str
    buyer_id: str
    merchant_id: str
    amount_minor: int
    currency: str
    refund_lines: list[RefundLine]
    # The order's lines as sold (their room, video or sale is the refund's source).
    lines: list[OrderLine]


class RefundRequested(RefundFacts, frozen=True, kw_only=True):
    """orders accepted a grant under the order's cap and will refund exactly `amount_minor` at Stripe."""

    SUBJECT: ClassVar[str] = "orders.refund.requested.v1"


class RefundSucceeded(RefundFacts, frozen=True, kw_only=True):
    """Stripe refunded the grant (read from its answer, the webhook, or by reading the refund back)."""

    SUBJECT: ClassVar[str] = "orders.refund.succeeded.v1"
    stripe_refund_id: str
    refunded_at: datetime


class RefundFailed(RefundFacts, frozen=True, kw_only=True):
    """The grant will not be paid as it stands: Stripe refused it, or orders refused it (over the cap or the ledger).
    An operator decides what happens next (aftersales' `refund_failed`)."""

    SUBJECT: ClassVar[str] = "orders.refund.failed.v1"
    reason: str


__all__ = [
    "CancelledLine",
    "CheckoutAbandoned",
    "FlashSaleOrdersPlaced",
    "OrderCancelled",
    "OrderCancelledAfterPayment",
    "OrderCompleted",
    "OrderDelivered",
    "OrderFacts",
    "OrderLine",
    "OrderPaid",
    "OrderPlaced",
    "OrderShipped",
    "PlacedOrder",
    "RefundFacts",
    "RefundFailed",
    "RefundLine",
    "RefundRequested",
    "RefundSucceeded",
    "ShippedLine",
]
