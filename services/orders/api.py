"""HTTP controllers of orders: decode, check who asks, call one function."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter

from libs.contracts import ReserveItem
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from services.orders import handlers, service
from services.orders.views import CheckoutView, ConfirmView, OrderPage, OrderView, WebhookAck


class CheckoutItem(msgspec.Struct, kw_only=True):
    """One cart line; prices come from shop, so a price sent here is ignored."""

    sku_id: uuid.UUID
    quantity: Annotated[int, msgspec.Meta(ge=1, le=999)]
    room_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


# omit_defaults: a request without coupons hashes as before they existed, so its Idempotency-Key replays still match.
class CheckoutRequest(msgspec.Struct, kw_only=True, omit_defaults=True):
    items: Annotated[list[CheckoutItem], msgspec.Meta(min_length=1, max_length=50)]
    # Coupons claimed in live rooms, at most one per merchant's order.
    coupon_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] = []


class ConfirmRequest(msgspec.Struct, kw_only=True):
    payment_method: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]
Status = Annotated[str | None, Parameter(description="awaiting_payment, paid or cancelled")]


@post("/checkout", guards=[requires("buyer")], status_code=201, tags=["checkout"])
async def checkout(request: Request, data: CheckoutRequest, runtime: Runtime) -> CheckoutView:
    """Reserve the cart's stock and open one order per merchant, paid by one payment (Idempotency-Key required)."""
    key = idempotency_key(request)
    items = [ReserveItem(sku_id=str(i.sku_id), quantity=i.quantity, room_id=i.room_id) for i in data.items]
    buyer_id = principal_of(request).sub
    coupon_ids = [str(c) for c in data.coupon_ids]
    return await service.place_checkout(
        runtime, buyer_id=buyer_id, key=key, items=items, coupon_ids=coupon_ids, request_body=data
    )


@get("/checkouts/{checkout_id:str}", guards=[requires("buyer")], tags=["checkout"])
async def get_checkout(request: Request, checkout_id: str, runtime: Runtime) -> CheckoutView:
    """The buyer's own checkout with its orders and payment."""
    return await service.checkout_of(runtime, buyer_id=principal_of(request).sub, checkout_id=checkout_id)


@post("/payments/{payment_id:str}/confirm", guards=[requires("buyer")], status_code=202, tags=["payments"])
async def confirm_payment(request: Request, payment_id: str, data: ConfirmRequest, runtime: Runtime) -> ConfirmView:
    """Pay with a payment method; the orders become paid when Stripe's webhook confirms it."""
    buyer_id = principal_of(request).sub
    return await service.confirm_payment(
        runtime, buyer_id=buyer_id, payment_id=payment_id, payment_method=data.payment_method
    )


@post("/stripe/webhook", status_code=200, tags=["payments"])
async def stripe_webhook(request: Request, runtime: Runtime) -> WebhookAck:
    """Signed Stripe events (no bearer token: the signature is the authentication)."""
    payload = await request.body()
    return await handlers.stripe_webhook(runtime, payload, request.headers.get("stripe-signature"))


@get("/orders", guards=[requires("buyer")], tags=["orders"])
async def list_orders(
    request: Request, runtime: Runtime, status: Status = None, limit: Limit = 20, cursor: Cursor = None
) -> OrderPage:
    """The buyer's own orders, newest first."""
    buyer_id = principal_of(request).sub
    return await service.orders_page(runtime, buyer_id=buyer_id, status=status, limit=limit, cursor=cursor)


@get("/orders/{order_id:str}", guards=[requires("buyer")], tags=["orders"])
async def get_order(request: Request, order_id: str, runtime: Runtime) -> OrderView:
    """One of the buyer's own orders (anyone else's is 404)."""
    return await service.order_of(runtime, order_id=order_id, buyer_id=principal_of(request).sub)


@get("/seller/orders", guards=[requires("merchant")], tags=["seller"])
async def list_seller_orders(
    request: Request, runtime: Runtime, status: Status = None, limit: Limit = 20, cursor: Cursor = None
) -> OrderPage:
    """The merchant's own orders, newest first."""
    merchant_id = principal_of(request).merchant_id or ""
    return await service.orders_page(runtime, merchant_id=merchant_id, status=status, limit=limit, cursor=cursor)


@get("/seller/orders/{order_id:str}", guards=[requires("merchant")], tags=["seller"])
async def get_seller_order(request: Request, order_id: str, runtime: Runtime) -> OrderView:
    """One of the merchant's own orders (another merchant's is 404)."""
    return await service.order_of(runtime, order_id=order_id, merchant_id=principal_of(request).merchant_id or "")


ROUTES = [
    checkout,
    get_checkout,
    confirm_payment,
    stripe_webhook,
    list_orders,
    get_order,
    list_seller_orders,
    get_seller_order,
]
