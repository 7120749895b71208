"""Orders: a buyer's own and a merchant's own, one or a page at a time (newest first)."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get
from litestar.params import Parameter

from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from services.orders.use_cases import orders
from services.orders.views import OrderPage, OrderView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]
Status = Annotated[str | None, Parameter(description="awaiting_payment, paid or cancelled")]


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
