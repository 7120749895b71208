"""Response bodies of the orders API, and how stored rows become them (no I/O)."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Any

import msgspec

from libs.contracts import OrderLine
from libs.ids import is_uuid
from services.orders import domain
from services.orders.domain import CheckoutPlan


class LineView(msgspec.Struct, kw_only=True):
    sku_id: str
    product_id: str
    title: str
    sku_name: str
    quantity: int
    unit_price_minor: int
    # unit_price_minor * quantity - discount_minor: what the buyer pays for the line.
    amount_minor: int
    room_id: str | None = None
    discount_minor: int = 0
    flash_sale_id: str | None = None
    admission_id: str | None = None


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
    cancel_reason: str | None = None


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


def line_views(lines: list[OrderLine]) -> list[LineView]:
    return [LineView(**msgspec.structs.asdict(line)) for line in lines]


def planned_checkout(plan: CheckoutPlan, pay_by: datetime) -> CheckoutView:
    """The answer to a freshly placed checkout."""
    return CheckoutView(
        checkout_id=plan.checkout_id,
        status=domain.CheckoutStatus.AWAITING_PAYMENT,
        pay_by=pay_by,
        amount_minor=plan.amount_minor,
        currency=plan.currency,
        payment=PaymentView(
            payment_id=plan.payment_id,
            amount_minor=plan.amount_minor,
            currency=plan.currency,
            status=domain.PaymentStatus.REQUIRES_PAYMENT,
        ),
        orders=[
            CheckoutOrderView(
                order_id=o.order_id,
                merchant_id=o.merchant_id,
                status=domain.OrderStatus.AWAITING_PAYMENT,
                subtotal_minor=o.subtotal_minor,
                discount_minor=o.discount_minor,
                coupon_id=o.coupon_id,
                amount_minor=o.amount_minor,
                currency=o.currency,
                lines=line_views(o.lines),
            )
            for o in sorted(plan.orders, key=lambda o: o.order_id)
        ],
    )


def order_view(row: Any) -> OrderView:
    return OrderView(
        order_id=row["order_id"],
        checkout_id=row["checkout_id"],
        payment_id=row["payment_id"],
        buyer_id=row["buyer_id"],
        merchant_id=row["merchant_id"],
        status=row["status"],
        subtotal_minor=row["subtotal_minor"],
        discount_minor=row["discount_minor"],
        coupon_id=row["coupon_id"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        lines=msgspec.convert(row["lines"], list[LineView]),
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
    )


def checkout_view(checkout: Any, orders: list[Any]) -> CheckoutView:
    return CheckoutView(
        checkout_id=checkout["checkout_id"],
        status=checkout["status"],
        pay_by=checkout["pay_by"],
        amount_minor=checkout["amount_minor"],
        currency=checkout["currency"],
        payment=PaymentView(
            payment_id=checkout["payment_id"],
            amount_minor=checkout["payment_amount_minor"],
            currency=checkout["payment_currency"],
            status=checkout["payment_status"],
        ),
        orders=[
            CheckoutOrderView(
                order_id=o["order_id"],
                merchant_id=o["merchant_id"],
                status=o["status"],
                subtotal_minor=o["subtotal_minor"],
                discount_minor=o["discount_minor"],
                coupon_id=o["coupon_id"],
                amount_minor=o["amount_minor"],
                currency=o["currency"],
                lines=msgspec.convert(o["lines"], list[LineView]),
            )
            for o in orders
        ],
    )


class _Cursor(msgspec.Struct, array_like=True):
    created_at: Annotated[datetime, msgspec.Meta(tz=True)]
    order_id: str


def encode_cursor(created_at: datetime, order_id: str) -> str:
    """An opaque position after which the next page starts."""
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(created_at, order_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; raises domain.DomainError naming `cursor` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise domain.DomainError("cursor is not one this API handed out", field="cursor") from exc
    if not is_uuid(decoded.order_id):
        raise domain.DomainError("cursor is not one this API handed out", field="cursor")
    return decoded.created_at, decoded.order_id
