"""Response bodies of the orders API: plain data."""

from __future__ import annotations

from datetime import datetime

import msgspec


class LineView(msgspec.Struct, kw_only=True):
    # The line's number in its order (what a shipment's or a case's `lines[i].line_no` names).
    line_no: int | None = None
    sku_id: str
    product_id: str
    title: str
    sku_name: str
    quantity: int
    unit_price_minor: int
    # unit_price_minor * quantity - discount_minor: what the buyer pays for the line.
    amount_minor: int
    room_id: str | None = None
    # The short video the line was bought from (the checkout item's, else the cart line's video source).
    video_id: str | None = None
    discount_minor: int = 0
    flash_sale_id: str | None = None
    admission_id: str | None = None
    # Whether live vouched for room_id (it exists and sells for the line's merchant): None without a room, False
    # when live did not answer in time and the room was kept unverified ("Attribution" in docs/ARCHITECTURE.md).
    room_verified: bool | None = None
    # A local-life group-buy deal the line buys (its vouchers are local_life's; it never ships); None for goods.
    deal_id: str | None = None
    # A team-buy deal line: the team its seat is in (share it so others join).
    team_id: str | None = None
    # The line's quantity ledger ("Fulfilment" in docs/ARCHITECTURE.md), and what is derived from it.
    ledger: LedgerView | None = None


class LedgerView(msgspec.Struct, kw_only=True):
    """What happened to a line's units; `to_ship`, `refundable` and `returnable` are derived, never stored."""

    ordered: int
    shipped: int = 0
    delivered: int = 0
    cancelled: int = 0
    refund_requested: int = 0
    refunded: int = 0
    returned: int = 0
    restocked: int = 0
    to_ship: int = 0
    refundable: int = 0
    returnable: int = 0


class RefundView(msgspec.Struct, kw_only=True):
    """A refund grant of the order and where its money is."""

    grant_id: str
    case_id: str | None = None
    # `case` (an after-sales decision), `cancel` (unshipped units cancelled after payment) or `local_life` (vouchers
    # refunded before use or at expiry, or a team buy that did not fill).
    origin: str
    amount_minor: int
    currency: str
    # pending, succeeded or failed.
    status: str
    stripe_refund_id: str | None = None
    failure_reason: str | None = None
    created_at: datetime
    settled_at: datetime | None = None


class OrderView(msgspec.Struct, kw_only=True):
    order_id: str
    checkout_id: str
    # Pay it with POST /payments/{payment_id}/confirm (one payment per checkout).
    payment_id: str
    buyer_id: str
    merchant_id: str
    status: str
    subtotal_minor: int
    discount_minor: int
    coupon_id: str | None
    # The total to pay: subtotal_minor - discount_minor.
    amount_minor: int
    currency: str
    lines: list[LineView]
    created_at: datetime
    paid_at: datetime | None = None
    cancelled_at: datetime | None = None
    # buyer_cancelled or late_shipment (a paid order cancelled by its buyer), payment_timeout (never paid).
    cancel_reason: str | None = None
    # Fulfilment ("Orders: fulfilment" in docs/ARCHITECTURE.md): ship by then; `late` is derived from the clock
    # (past ship_by with units left to ship: the buyer may cancel them).
    ship_by: datetime | None = None
    late: bool = False
    delivered_at: datetime | None = None
    completed_at: datetime | None = None
    # buyer (confirmed receipt) or auto (complete_by passed with no after-sales case open).
    completed_by: str | None = None
    # When a delivered order completes by itself; stopped while an after-sales case is open (`completion_paused`).
    complete_by: datetime | None = None
    completion_paused: bool = False
    shipments: list[ShipmentView] = []
    refunds: list[RefundView] = []
    # What succeeded refunds gave back to the buyer so far.
    refunded_minor: int = 0


class ShipmentLineView(msgspec.Struct, kw_only=True):
    line_no: int
    sku_id: str
    quantity: int


class ShipmentView(msgspec.Struct, kw_only=True):
    """Units of one order sent in one parcel, with its carrier's tracking number."""

    shipment_id: str
    order_id: str
    carrier: str
    tracking_number: str
    # shipped or delivered.
    status: str
    lines: list[ShipmentLineView]
    shipped_at: datetime
    delivered_at: datetime | None = None


class ShipmentList(msgspec.Struct, kw_only=True):
    """An order's shipments, oldest first."""

    items: list[ShipmentView]


class CarrierAck(msgspec.Struct, kw_only=True):
    """What a carrier callback did: delivered, duplicate (this event id was applied before) or ignored."""

    status: str


class OrderPage(msgspec.Struct, kw_only=True):
    """One page of orders, newest first; pass `next_cursor` back as `cursor` for the next."""

    items: list[OrderView]
    next_cursor: str | None = None


class CheckoutOrderView(msgspec.Struct, kw_only=True):
    order_id: str
    merchant_id: str
    status: str
    subtotal_minor: int
    discount_minor: int
    coupon_id: str | None
    amount_minor: int
    currency: str
    lines: list[LineView]


class PaymentView(msgspec.Struct, kw_only=True):
    payment_id: str
    amount_minor: int
    currency: str
    status: str
    # Only in the answer to POST /checkout (Stripe asks that it be neither stored nor logged).
    client_secret: str | None = None


class CheckoutView(msgspec.Struct, kw_only=True):
    checkout_id: str
    status: str
    pay_by: datetime
    amount_minor: int
    currency: str
    payment: PaymentView
    orders: list[CheckoutOrderView]


class ConfirmView(msgspec.Struct, kw_only=True):
    payment_id: str
    status: str


class WebhookAck(msgspec.Struct, kw_only=True):
    status: str
