"""The seller back office (merchant): Today, products, a new product, a product with its stock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from litestar import Request, Response, get, post
from litestar.response import Template

from services.web.api import apis_of, form_of, page, redirect, user_in_role
from services.web.domain import MAX_SKU_ROWS, NEW_PRODUCT_ROWS, ProductForm, rows_of
from services.web.use_cases import seller


@get("/seller")
async def today(request: Request) -> Template:
    """Today: takings since midnight (UTC), orders to ship with their deadlines, after-sales cases due soonest."""
    user = user_in_role(request, "merchant")
    return page(request, "seller/today.html", today=await seller.today(apis_of(request), user, datetime.now(UTC)))


@get("/seller/products")
async def products(request: Request) -> Template:
    """The merchant's products with what each can still sell."""
    user = user_in_role(request, "merchant")
    return page(request, "seller/products.html", products=await seller.products(apis_of(request), user))


def _new_product_form(request: Request, form: ProductForm, *, status: int = 200) -> Template:
    # A fresh Idempotency-Key per form shown: sending this form twice makes one product.
    return page(request, "seller/product_new.html", status=status, form=form, key=str(uuid.uuid4()))


@get("/seller/products/new")
async def new_product(request: Request) -> Template:
    """The form for a product and its SKUs (name, price, stock each)."""
    user_in_role(request, "merchant")
    return _new_product_form(request, ProductForm(values={}, rows=NEW_PRODUCT_ROWS))


@post("/seller/products/new")
async def create_product(request: Request) -> Response[None] | Template:
    """Create and publish the product; the API's refusals are shown by the field they name, nothing else changes."""
    user = user_in_role(request, "merchant")
    values = await form_of(request)
    if "add_sku" in values:  # "Add a SKU row": the same form, one row longer, nothing sent to shop
        return _new_product_form(request, ProductForm(values=values, rows=min(rows_of(values) + 1, MAX_SKU_ROWS)))
    created, form = await seller.create_product(apis_of(request), user, values, values.get("idempotency_key", ""))
    if created is None:
        return _new_product_form(request, form, status=422)
    return redirect(f"/seller/products/{created}")


@get("/seller/products/{product_id:str}")
async def product(request: Request, product_id: str) -> Template:
    """One of the merchant's products with each SKU's stock and a form to set it (another's: 404)."""
    user = user_in_role(request, "merchant")
    return page(request, "seller/product.html", page=await seller.product(apis_of(request), user, product_id))


@post("/seller/products/{product_id:str}/skus/{sku_id:str}/stock")
async def adjust_stock(request: Request, product_id: str, sku_id: str) -> Response[None] | Template:
    """Set a SKU's stock on hand (not below what is reserved: shop refuses, the page says so by the field)."""
    user = user_in_role(request, "merchant")
    values = await form_of(request)
    apis = apis_of(request)
    error = await seller.adjust_stock(apis, user, product_id, sku_id, values.get("stock_on_hand", ""))
    if error is None:
        return redirect(f"/seller/products/{product_id}")
    return page(
        request,
        "seller/product.html",
        status=422,
        page=await seller.product(apis, user, product_id),
        stock_error={"sku_id": sku_id, "message": error, "value": values.get("stock_on_hand", "")},
    )


ROUTES = [today, products, new_product, create_product, product, adjust_stock]
