"""The seller back office's pages: Today (with the live rooms of today), the products list, a product, a new product,
a stock adjustment."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain import NotAnAmount, ProductForm, parse_count, read_product_form, start_of_day, sum_by_currency
from services.web.use_cases.seller_live import rooms_today
from services.web.views import CaseDue, ProductPage, ProductRow, SignedIn, TodayPage, ToShip

TODAY_ROWS = 10


async def today(apis: Apis, user: SignedIn, now: datetime) -> TodayPage:
    """Takings since midnight UTC (live's merchant funnel), the orders to ship first, the cases due soonest, and the
    rooms live now or ended today with their viewers and paid orders."""
    since = start_of_day(now)
    try:
        funnel = await apis.call(
            "live",
            "GET",
            f"/merchants/{quote(user.merchant_id or '', safe='')}/funnel",
            user.token,
            params={"from": since.isoformat(), "to": now.isoformat()},
        )
        gmv = sum_by_currency([point["gross_paid_minor"] for point in funnel.get("series", [])])
    except ApiRefused as refused:
        if refused.status != 404:  # no funnel yet: nothing sold
            raise
        gmv = {}
    shipping = await apis.call("orders", "GET", "/seller/orders/to-ship", user.token, params={"limit": TODAY_ROWS})
    cases = await apis.call("aftersales", "GET", "/seller/cases", user.token, params={"limit": TODAY_ROWS})
    return TodayPage(
        gmv_today=gmv,
        to_ship=[
            ToShip(
                order_id=o["order_id"],
                amount_minor=o["amount_minor"],
                currency=o["currency"],
                units=sum((line.get("ledger") or {}).get("to_ship", line["quantity"]) for line in o["lines"]),
                ship_by=datetime.fromisoformat(o["ship_by"]) if o.get("ship_by") else None,
                late=bool(o.get("late")),
            )
            for o in shipping["items"]
        ],
        more_to_ship=bool(shipping.get("next_cursor")),
        cases=[
            CaseDue(
                case_id=c["case_id"],
                order_id=c["order_id"],
                kind=c["kind"],
                status=c["status"],
                next_action=c.get("next_action"),
                deadline=datetime.fromisoformat(c["deadline"]) if c.get("deadline") else None,
            )
            for c in cases["items"]
            if c.get("next_action")  # open: someone has a move to make (closed cases have none, and no deadline)
        ],
        now=now,
        live_rooms=await rooms_today(apis, user, now),
    )


async def products(apis: Apis, user: SignedIn) -> list[ProductRow]:
    """The merchant's products, newest first, with what each can still sell."""
    answer = await apis.call("shop", "GET", "/seller/products", user.token, params={"limit": 100})
    return [
        ProductRow(
            product_id=p["product_id"],
            title=p["title"],
            status=p["status"],
            skus=len(p["skus"]),
            stock_available=sum(s["stock_available"] for s in p["skus"]),
            prices=sorted({(s["price_minor"], s["currency"]) for s in p["skus"]}),
        )
        for p in answer["items"]
    ]


async def product(apis: Apis, user: SignedIn, product_id: str) -> ProductPage:
    """One of the merchant's products (shop answers 404 for anyone else's, and so does the page)."""
    return ProductPage(
        product=await apis.call("shop", "GET", f"/seller/products/{quote(product_id, safe='')}", user.token)
    )


async def currency_of(apis: Apis, user: SignedIn) -> str:
    """The merchant's currency (a new product's prices are in it)."""
    merchant: dict[str, Any] = await apis.call(
        "shop", "GET", f"/merchants/{quote(user.merchant_id or '', safe='')}", user.token
    )
    return str(merchant["currency"])


async def create_product(
    apis: Apis, user: SignedIn, values: dict[str, str], key: str
) -> tuple[str | None, ProductForm]:
    """Create and publish the product the form describes: (its id, the form), or (None, the form with its errors).

    `key` is the form's Idempotency-Key: a form sent twice (a double click, a retry) makes one product.
    """
    form = read_product_form(values, await currency_of(apis, user))
    if form.errors:
        return None, form
    try:
        created = await apis.call("shop", "POST", "/seller/products", user.token, json=form.body, key=key)
    except ApiRefused as refused:
        if refused.status not in (400, 409, 422):
            raise
        form.errors[form.error_for_api_field(refused.field)] = refused.detail
        return None, form
    return str(created["product_id"]), form


async def adjust_stock(apis: Apis, user: SignedIn, product_id: str, sku_id: str, text: str) -> str | None:
    """Set a SKU's stock on hand; None when done, else what is wrong (the page shows it by the field)."""
    page = await product(apis, user, product_id)  # 404 for another merchant's product, or a SKU not of it
    if not any(s["sku_id"] == sku_id for s in page.product["skus"]):
        raise ApiRefused(404, "no such SKU in this product", code="not-found", service="shop")
    try:
        stock = parse_count(text)
    except NotAnAmount as exc:
        return str(exc)
    try:
        await apis.call(
            "shop", "PATCH", f"/seller/skus/{quote(sku_id, safe='')}", user.token, json={"stock_on_hand": stock}
        )
    except ApiRefused as refused:
        if refused.status not in (400, 409, 422):
            raise
        return refused.detail
    return None
