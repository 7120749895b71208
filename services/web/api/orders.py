"""Buyer pages (buyer): checkout and paying, my orders with tracking, my after-sales cases and opening one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, page, redirect, user_in_role
from services.web.use_cases import orders as use_case
from services.web.views.orders import CasePage, CheckoutPage, OrderPage


def _now() -> datetime:
    return datetime.now(UTC)


def _checkout(request: Request, checkout: CheckoutPage) -> Template:
    refusal = checkout.panel.refusal
    return page(request, "orders/checkout.html", status=refusal.status if refusal else 200, page=checkout)


def _order(request: Request, order: OrderPage) -> Template:
    return page(request, "orders/order.html", status=order.refusal.status if order.refusal else 200, page=order)


def _case(request: Request, case: CasePage) -> Template:
    return page(request, "orders/case.html", status=case.refusal.status if case.refusal else 200, page=case)


async def _coupon_ids(request: Request) -> list[str]:
    form = await request.form()
    return [c for c in form.getall("coupon_id") if isinstance(c, str)] if "coupon_id" in form else []


@post("/checkout")
async def checkout(request: Request) -> Response[None] | Template:
    """Check out the cart, a deal or a SKU (the posting form's fields and Idempotency-Key): to the checkout's page, or
    a page saying what orders refused, about which item, with the way back."""
    user = user_in_role(request, "buyer")
    values, coupons = await form_of(request), await _coupon_ids(request)
    placed, problem = await use_case.place_checkout(apis_of(request), user, values, coupons)
    if placed is None:
        assert problem is not None
        return page(request, "orders/checkout_problem.html", status=problem.refusal.status, problem=problem)
    return redirect(f"/checkouts/{placed}")


@get("/checkouts/{checkout_id:str}")
async def checkout_page(request: Request, checkout_id: str, paying: str | None = None, polls: int = 0) -> Template:
    """What is bought, the totals, and paying: the test payment methods, then the payment being processed."""
    user = user_in_role(request, "buyer")
    found = await use_case.checkout_page(apis_of(request), user, checkout_id, _now(), paying=paying, polls=polls)
    return _checkout(request, found)


@get("/checkouts/{checkout_id:str}/payment")
async def checkout_payment(request: Request, checkout_id: str, paying: str | None = None, polls: int = 0) -> Template:
    """The payment panel alone: what the page polls every second while a payment is processed."""
    user = user_in_role(request, "buyer")
    found = await use_case.checkout_page(apis_of(request), user, checkout_id, _now(), paying=paying, polls=polls)
    return page(request, "orders/_payment.html", panel=found.panel)


@post("/checkouts/{checkout_id:str}/pay")
async def pay_checkout(request: Request, checkout_id: str) -> Response[None] | Template:
    """Confirm the payment with the chosen test card: on to the processing page, or the decline in Stripe's words."""
    user = user_in_role(request, "buyer")
    apis, method = apis_of(request), (await form_of(request)).get("payment_method", "")
    found = await use_case.checkout_page(apis, user, checkout_id, _now())
    to, shown = await use_case.pay(apis, user, found, method)
    return redirect(to) if to else _checkout(request, shown)


@get("/orders/{order_id:str}/pay")
async def order_pay_page(request: Request, order_id: str, paying: str | None = None, polls: int = 0) -> Template:
    """A flash-sale admission's order: pay it by its pay-by, as a checkout is paid."""
    user = user_in_role(request, "buyer")
    found = await use_case.order_pay_page(apis_of(request), user, order_id, _now(), paying=paying, polls=polls)
    return _checkout(request, found)


@get("/orders/{order_id:str}/pay/payment")
async def order_payment(request: Request, order_id: str, paying: str | None = None, polls: int = 0) -> Template:
    """The flash-sale order's payment panel alone (polled while processing)."""
    user = user_in_role(request, "buyer")
    found = await use_case.order_pay_page(apis_of(request), user, order_id, _now(), paying=paying, polls=polls)
    return page(request, "orders/_payment.html", panel=found.panel)


@post("/orders/{order_id:str}/pay")
async def pay_order(request: Request, order_id: str) -> Response[None] | Template:
    """Confirm the flash-sale order's payment with the chosen test card."""
    user = user_in_role(request, "buyer")
    apis, method = apis_of(request), (await form_of(request)).get("payment_method", "")
    found = await use_case.order_pay_page(apis, user, order_id, _now())
    to, shown = await use_case.pay(apis, user, found, method)
    return redirect(to) if to else _checkout(request, shown)


@get("/orders")
async def orders(request: Request, status: str = "", cursor: str | None = None) -> Template:
    """My orders, newest first, by status, a page at a time."""
    user = user_in_role(request, "buyer")
    found = await use_case.order_list(apis_of(request), user, "/orders", status, cursor)
    return page(request, "orders/orders.html", page=found)


@get("/orders/{order_id:str}")
async def order(request: Request, order_id: str) -> Template:
    """An order: lines, totals, its timeline with tracking, refunds and cases; confirm receipt, cancel, after-sales."""
    user = user_in_role(request, "buyer")
    return _order(request, await use_case.order_page(apis_of(request), user, order_id, _now()))


@post("/orders/{order_id:str}/confirm-receipt")
async def confirm_receipt(request: Request, order_id: str) -> Response[None] | Template:
    """The goods arrived: the order completes (or orders' refusal, on the order's page)."""
    user = user_in_role(request, "buyer")
    refused = await use_case.order_move(apis_of(request), user, order_id, "confirm_receipt", "", _now())
    return _order(request, refused) if refused else redirect(f"/orders/{order_id}")


@post("/orders/{order_id:str}/cancel")
async def cancel_order(request: Request, order_id: str) -> Response[None] | Template:
    """Cancel what has not shipped, refunded in full (or orders' refusal: already shipping, nothing to cancel)."""
    user = user_in_role(request, "buyer")
    key = (await form_of(request)).get("idempotency_key", "")
    refused = await use_case.order_move(apis_of(request), user, order_id, "cancel", key, _now())
    return _order(request, refused) if refused else redirect(f"/orders/{order_id}")


@get("/orders/{order_id:str}/cases/new")
async def new_case(request: Request, order_id: str) -> Template:
    """Ask for after-sales: what you want, why, and which units (at most what orders' ledger allows per line)."""
    user = user_in_role(request, "buyer")
    form = await use_case.case_form(apis_of(request), user, order_id, str(uuid.uuid4()))
    return page(request, "orders/case_new.html", form=form)


@post("/orders/{order_id:str}/cases")
async def open_case(request: Request, order_id: str) -> Response[None] | Template:
    """Open the case: to its page, or the form again with aftersales' refusal by the field it names."""
    user = user_in_role(request, "buyer")
    values = await form_of(request)
    opened, form = await use_case.open_case(apis_of(request), user, order_id, values, str(uuid.uuid4()))
    if opened is None:
        return page(request, "orders/case_new.html", status=form.status, form=form)
    return redirect(f"/cases/{opened}")


@get("/cases")
async def cases(request: Request, cursor: str | None = None) -> Template:
    """My after-sales cases, newest first, with whose move it is."""
    user = user_in_role(request, "buyer")
    return page(request, "orders/cases.html", page=await use_case.case_list(apis_of(request), user, cursor, _now()))


@get("/cases/{case_id:str}")
async def case(request: Request, case_id: str) -> Template:
    """A case: status, whose move and by when, history, refund; the buyer's moves."""
    user = user_in_role(request, "buyer")
    return _case(request, await use_case.case_page(apis_of(request), user, case_id, _now()))


@post("/cases/{case_id:str}/{move:str}")
async def case_move(request: Request, case_id: str, move: str) -> Response[None] | Template:
    """A buyer's move: return-shipment (carrier, tracking number), cancel, escalate, accept-refund."""
    user = user_in_role(request, "buyer")
    refused = await use_case.buyer_case_move(apis_of(request), user, case_id, move, await form_of(request), _now())
    return _case(request, refused) if refused else redirect(f"/cases/{case_id}")


ROUTES = [
    checkout,
    checkout_page,
    checkout_payment,
    pay_checkout,
    order_pay_page,
    order_payment,
    pay_order,
    orders,
    order,
    confirm_receipt,
    cancel_order,
    new_case,
    open_case,
    cases,
    case,
    case_move,
]
