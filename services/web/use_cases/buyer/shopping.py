"""Products and the cart (shop), with the buyer's coupons (live) and which of them orders used."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from services.web.adapters.apis import ApiRefused, Apis
from services.web.domain import NotAnAmount
from services.web.domain.buyer import (
    SEARCH_CURRENCIES,
    read_quantity,
    read_search,
    subtotals,
    usable_coupons,
    used_coupon_ids,
)
from services.web.use_cases.buyer.common import all_pages, moment, path_id, shown
from services.web.views import SignedIn
from services.web.views.buyer import CartLine, CartPage, CartShop, FoundProduct, ProductPage, SearchPage

# The orders read to know which coupons are used (orders answers no "my coupons"): the newest 200.
ORDER_PAGES = 2


async def search(apis: Apis, user: SignedIn, values: dict[str, str]) -> SearchPage:
    """Shop's product search with the form's words, price range (typed in a currency's units) and "in stock only";
    with nothing asked, the newest products."""
    form = read_search(values)
    page = SearchPage(form=form, results=[], next_cursor=None, currencies=SEARCH_CURRENCIES)
    if form.errors:
        page.status = 422
        return page
    try:
        answer = await apis.call("shop", "GET", "/products", user.token, params={**form.params, "limit": 20})
    except ApiRefused as refused:
        shown(refused)
        form.errors[form.error_for_api_field(refused.field)] = refused.detail
        page.status = refused.status
        return page
    page.results = [
        FoundProduct(
            product_id=p["product_id"],
            title=p["title"],
            merchant_name=p["merchant_name"],
            currency=p["currency"],
            min_price_minor=p["min_price_minor"],
            max_price_minor=p["max_price_minor"],
            in_stock=p["in_stock"],
        )
        for p in answer["items"]
    ]
    page.next_cursor = answer.get("next_cursor")
    return page


async def product_page(apis: Apis, user: SignedIn, product_id: str) -> ProductPage:
    """A published product with each SKU's price and stock, and a fresh add-to-cart / buy-now form."""
    product = await apis.call("shop", "GET", f"/products/{path_id(product_id)}", user.token)
    merchant = await apis.call("shop", "GET", f"/merchants/{path_id(product['merchant_id'])}", user.token)
    skus = product["skus"]
    only = skus[0]["sku_id"] if len(skus) == 1 and skus[0]["stock_available"] > 0 else None
    # A fresh Idempotency-Key per form shown: "Buy now" sent twice makes one checkout.
    return ProductPage(product=product, merchant_name=merchant["name"], key=str(uuid.uuid4()), chosen_sku=only)


def _cart_field(api_field: str | None) -> str:
    return {"sku_id": "sku_id", "quantity": "quantity", "source.id": "room_id", "source": "room_id"}.get(
        api_field or "", ""
    )


async def add_to_cart(
    apis: Apis, user: SignedIn, values: dict[str, str], now: datetime
) -> ProductPage | CartPage | None:
    """Put `quantity` of the SKU in the cart (a room as its source): None when done; else the page the form came
    from (the product's, or the cart) with what is wrong by its field, in shop's words."""
    sku_id, status = values.get("sku_id", "").strip(), 422
    errors: dict[str, str] = {}
    if not sku_id:
        errors["sku_id"] = "Choose a SKU"
    try:
        quantity = read_quantity(values.get("quantity", ""))
    except NotAnAmount as exc:
        errors["quantity"] = str(exc)
    if not errors:
        room_id = values.get("room_id", "").strip()
        body: dict[str, Any] = {"sku_id": sku_id, "quantity": quantity}
        if room_id:
            body["source"] = {"type": "room", "id": room_id}
        try:
            await apis.call("shop", "POST", "/cart/items", user.token, json=body)
            return None
        except ApiRefused as refused:
            shown(refused)
            errors[_cart_field(refused.field)] = refused.detail
            status = refused.status
    if values.get("product_id"):  # the product page's form: shown again with the refusal
        page = await product_page(apis, user, values["product_id"])
        page.chosen_sku, page.quantity, page.errors, page.status = sku_id, values.get("quantity", ""), errors, status
        return page
    cart = await cart_page(apis, user, now)
    in_cart = any(line.sku_id == sku_id for shop in cart.shops for line in shop.lines)
    # By the line whose quantity was being changed; otherwise (a room's "add to cart") at the top, with the way back.
    cart.errors = {f"quantity-{sku_id}" if in_cart else "": " ".join(errors.values())}
    cart.back = values.get("next") or None
    cart.status = status
    return cart


async def remove_from_cart(apis: Apis, user: SignedIn, sku_id: str) -> None:
    """Take the SKU's line out of the cart (gone already: the same)."""
    await apis.call("shop", "DELETE", f"/cart/items/{path_id(sku_id)}", user.token)


async def _merchants_of(apis: Apis, user: SignedIn, product_ids: list[str]) -> dict[str, str]:
    """product id -> merchant id (a product unpublished since it was put in the cart: left out)."""

    async def one(product_id: str) -> tuple[str, str | None]:
        try:
            product = await apis.call("shop", "GET", f"/products/{path_id(product_id)}", user.token)
        except ApiRefused as refused:
            if refused.status != 404:
                raise
            return product_id, None
        return product_id, product["merchant_id"]

    found = await asyncio.gather(*(one(p) for p in product_ids))
    return {product_id: merchant_id for product_id, merchant_id in found if merchant_id}


async def _names_of(apis: Apis, user: SignedIn, merchant_ids: list[str]) -> dict[str, str]:
    answers = await asyncio.gather(
        *(apis.call("shop", "GET", f"/merchants/{path_id(m)}", user.token) for m in merchant_ids)
    )
    return {m: a["name"] for m, a in zip(merchant_ids, answers, strict=True)}


async def cart_page(apis: Apis, user: SignedIn, now: datetime) -> CartPage:
    """The cart by merchant (one order each at checkout), priced now, with the coupons each order can take."""
    cart = await apis.call("shop", "GET", "/cart", user.token)
    lines = cart["items"]
    page = CartPage(shops=[], subtotals=subtotals(lines), key=str(uuid.uuid4()))
    if not lines:
        return page
    merchant_of = await _merchants_of(apis, user, list(dict.fromkeys(line["product_id"] for line in lines)))
    merchant_ids = list(dict.fromkeys(merchant_of.values()))
    names, (coupons, _more) = await asyncio.gather(
        _names_of(apis, user, merchant_ids), all_pages(apis, "live", "/coupons", user.token, 1)
    )
    used = (
        used_coupon_ids((await all_pages(apis, "orders", "/orders", user.token, ORDER_PAGES))[0]) if coupons else set()
    )
    for merchant_id in [*merchant_ids, ""]:
        mine = [line for line in lines if merchant_of.get(line["product_id"], "") == merchant_id]
        if not mine:
            continue
        currency = mine[0]["currency"]
        page.shops.append(
            CartShop(
                merchant_id=merchant_id,
                merchant_name=names.get(merchant_id, ""),
                lines=[
                    CartLine(
                        sku_id=line["sku_id"],
                        product_id=line["product_id"],
                        title=line["title"],
                        sku_name=line["sku_name"],
                        quantity=line["quantity"],
                        unit_price_minor=line["unit_price_minor"],
                        line_minor=line["unit_price_minor"] * line["quantity"],
                        currency=line["currency"],
                        stock_available=line["stock_available"],
                        room_id=(line.get("source") or {}).get("id")
                        if (line.get("source") or {}).get("type") == "room"
                        else None,
                    )
                    for line in mine
                ],
                subtotals=subtotals(mine),
                coupons=[
                    c | {"valid_until": moment(c["valid_until"])}
                    for c in (usable_coupons(coupons, merchant_id, currency, used, now) if merchant_id else [])
                ],
            )
        )
    return page
