"""Orders: a buyer's own and a merchant's own, one or a page at a time (newest first)."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.params import Parameter

from libs.errors import Conflict
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from services.orders.use_cases import fulfilment, orders
from services.orders.views import OrderPage, OrderView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]
Status = Annotated[
    str | None,
    Parameter(
        description="awaiting_payment, paid, partially_shipped, shipped, delivered, completed or cancelled",
        max_length=50,
    ),
]


@get("/orders", guards=[requires("buyer")], tags=["orders"])
async def list_orders(
    request: Request, runtime: Runtime, status: Status = None, limit: Limit = 20, cursor: Cursor = None
) -> OrderPage:
    """The buyer's own orders, newest first."""
    buyer_id = principal_of(request).sub
    return await orders.orders_page(runtime, buyer_id=buyer_id, status=status, limit=limit, cursor=cursor)


@get("/orders/{order_id:str}", guards=[requires("buyer")], tags=["orders"])
async def get_order(request: Request, order_id: str, runtime: Runtime) -> OrderView:
    """One of the buyer's own orders (anyone else's is 404)."""
    return await orders.order_of(runtime, order_id=order_id, buyer_id=principal_of(request).sub)


@get("/seller/orders", guards=[requires("merchant")], tags=["seller"])
async def list_seller_orders(
    request: Request, runtime: Runtime, status: Status = None, limit: Limit = 20, cursor: Cursor = None
) -> OrderPage:
    """The merchant's own orders, newest first."""
    merchant_id = principal_of(request).merchant_id or ""
    return await orders.orders_page(runtime, merchant_id=merchant_id, status=status, limit=limit, cursor=cursor)


@get("/seller/orders/{order_id:str}", guards=[requires("merchant")], tags=["seller"])
async def get_seller_order(request: Request, order_id: str, runtime: Runtime) -> OrderView:
    """One of the merchant's own orders (another merchant's is 404)."""
    return await orders.order_of(runtime, order_id=order_id, merchant_id=principal_of(request).merchant_id or "")


@get("/seller/orders/to-ship", guards=[requires("merchant")], tags=["seller"])
async def list_orders_to_ship(
    request: Request, runtime: Runtime, limit: Limit = 20, cursor: Cursor = None
) -> OrderPage:
    """The merchant's orders with units to ship (paid, partially shipped), soonest `ship_by` first; `late` says
    which are past it."""
    merchant_id = principal_of(request).merchant_id or ""
    return await fulfilment.orders_to_ship(runtime, merchant_id=merchant_id, limit=limit, cursor=cursor)


@post(
    "/orders/{order_id:str}/confirm-receipt",
    guards=[requires("buyer")],
    status_code=200,
    tags=["orders"],
    opt=documented(Conflict),
)
async def confirm_receipt(request: Request, order_id: str, runtime: Runtime) -> OrderView:
    """The buyer got the goods: a shipped or delivered order completes now (again: the completed order); 409
    `order-not-completable` (with `order_status`) before it shipped."""
    return await fulfilment.confirm_receipt(runtime, buyer_id=principal_of(request).sub, order_id=order_id)


@post(
    "/orders/{order_id:str}/cancel",
    guards=[requires("buyer")],
    status_code=200,
    tags=["orders"],
    opt=documented(Conflict, idempotency_key="optional"),
)
async def cancel_order(request: Request, order_id: str, runtime: Runtime) -> OrderView:
    """The buyer cancels what has not shipped, refunded in full: the whole paid order before anything shipped
    (`buyer_cancelled`), or once late (past `ship_by`) the rest of a partly shipped one (`late_shipment`). 409
    `already-shipping` (partly shipped, not late), `nothing-to-cancel`, `order-not-cancellable` (with
    `order_status`)."""
    key = idempotency_key(request, required=False)
    return await fulfilment.cancel_order(runtime, principal_of(request), order_id=order_id, key=key)
