"""The seller back office (merchant): orders with filters, an order's timeline and its ship form, the after-sales
queue and its moves."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, page, redirect, user_in_role
from services.web.use_cases import orders as buyer_side
from services.web.use_cases import seller_orders as use_case
from services.web.views.orders import CasePage, OrderPage


def _now() -> datetime:
    return datetime.now(UTC)


def _order(request: Request, order: OrderPage) -> Template:
    status = order.refusal.status if order.refusal else 200
    return page(request, "seller_orders/order.html", status=status, page=order)


def _case(request: Request, case: CasePage) -> Template:
    return page(request, "seller_orders/case.html", status=case.refusal.status if case.refusal else 200, page=case)


@get("/seller/orders")
async def orders(request: Request, status: str = "", cursor: str | None = None) -> Template:
    """The merchant's orders, newest first, by status, a page at a time."""
    user = user_in_role(request, "merchant")
    found = await buyer_side.order_list(apis_of(request), user, "/seller/orders", status, cursor)
    return page(request, "seller_orders/orders.html", page=found)


@get("/seller/orders/{order_id:str}")
async def order(request: Request, order_id: str) -> Template:
    """An order: lines and what is left to ship, the timeline, shipments (mark delivered), cases, the ship form."""
    user = user_in_role(request, "merchant")
    return _order(request, await use_case.order_page(apis_of(request), user, order_id, _now()))


@post("/seller/orders/{order_id:str}/shipments")
async def ship(request: Request, order_id: str) -> Response[None] | Template:
    """Send a parcel: carrier, tracking number, units per line (orders' refusal by the field it names)."""
    user = user_in_role(request, "merchant")
    refused = await use_case.ship(apis_of(request), user, order_id, await form_of(request), _now())
    return _order(request, refused) if refused else redirect(f"/seller/orders/{order_id}")


@post("/seller/orders/{order_id:str}/shipments/{shipment_id:str}/delivered")
async def delivered(request: Request, order_id: str, shipment_id: str) -> Response[None] | Template:
    """The parcel arrived."""
    user = user_in_role(request, "merchant")
    refused = await use_case.mark_delivered(apis_of(request), user, order_id, shipment_id, _now())
    return _order(request, refused) if refused else redirect(f"/seller/orders/{order_id}")


@get("/seller/cases")
async def cases(request: Request, status: str = "") -> Template:
    """The after-sales queue, soonest deadline first, by status."""
    user = user_in_role(request, "merchant")
    found = await use_case.case_queue(apis_of(request), user, status, _now())
    return page(request, "seller_orders/cases.html", page=found)


@get("/seller/cases/{case_id:str}")
async def case(request: Request, case_id: str) -> Template:
    """A case: what the buyer asks and why, its history, whose move by when; the merchant's moves."""
    user = user_in_role(request, "merchant")
    return _case(request, await use_case.case_page(apis_of(request), user, case_id, _now()))


@post("/seller/cases/{case_id:str}/{move:str}")
async def case_move(request: Request, case_id: str, move: str) -> Response[None] | Template:
    """approve, reject (reason), confirm-receipt (restockable per line), refuse-receipt (reason), ship-replacement."""
    user = user_in_role(request, "merchant")
    values = await form_of(request)
    refused = await use_case.merchant_case_move(apis_of(request), user, case_id, move, values, _now())
    return _case(request, refused) if refused else redirect(f"/seller/cases/{case_id}")


ROUTES = [orders, order, ship, delivered, cases, case, case_move]
