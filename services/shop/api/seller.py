"""The seller back office API: a merchant's own products and SKUs."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.params import Parameter

from libs.runtime import Runtime
from libs.web import principal_of, requires
from services.shop import catalogue
from services.shop.api.common import Currency, Name, PriceMinor, Stock, merchant_of, write_once
from services.shop.views import ProductView, ShortfallView, SkuChangeView

SkuName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]


class NewSkuBody(msgspec.Struct, kw_only=True):
    name: SkuName
    price_minor: PriceMinor
    stock: Stock
    currency: Currency | None = None  # the merchant's currency when left out


class NewProduct(msgspec.Struct, kw_only=True):
    title: Name
    skus: Annotated[list[NewSkuBody], msgspec.Meta(min_length=1, max_length=100)]
    description: Description = ""


class ProductPatch(msgspec.Struct, kw_only=True):
    title: Name | None = None
    description: Description | None = None


class SkuPatch(msgspec.Struct, kw_only=True):
    price_minor: PriceMinor | None = None
    stock_on_hand: Stock | None = None


class ProductList(msgspec.Struct, kw_only=True):
    items: list[ProductView]


class SkuChanges(msgspec.Struct, kw_only=True):
    items: list[SkuChangeView]


class Shortfalls(msgspec.Struct, kw_only=True):
    items: list[ShortfallView]


class SellerController(Controller):
    path = "/seller"
    tags = ["seller"]
    guards = [requires("merchant")]

    @post("/products", status_code=201)
    async def create_product(self, request: Request, data: NewProduct, runtime: Runtime) -> Response[ProductView]:
        """Create and publish a product with its SKUs."""
        merchant_id = merchant_of(request)
        skus = [catalogue.NewSku(s.name, s.price_minor, s.currency, s.stock) for s in data.skus]
        return await write_once(
            request,
            runtime,
            scope="create-product",
            body=data,
            effect=lambda conn: catalogue.create_product(
                conn, runtime.clock.now(), merchant_id, title=data.title, description=data.description, skus=skus
            ),
        )

    @get("/products")
    async def list_products(
        self,
        request: Request,
        runtime: Runtime,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 100,
        offset: Annotated[int, Parameter(ge=0)] = 0,
    ) -> ProductList:
        """The merchant's own products, newest first, with stock on hand and reserved."""
        items = await catalogue.products_of(runtime.db, merchant_of(request), limit=limit, offset=offset)
        return ProductList(items=items)

    @get("/products/{product_id:str}")
    async def get_product(self, request: Request, product_id: str, runtime: Runtime) -> ProductView:
        """One of the merchant's own products."""
        return await catalogue.own_product(runtime.db, merchant_of(request), product_id)

    @patch("/products/{product_id:str}")
    async def edit_product(
        self, request: Request, product_id: str, data: ProductPatch, runtime: Runtime
    ) -> ProductView:
        """Change a product's title and/or description."""
        return await catalogue.edit_product(
            runtime.db,
            runtime.clock.now(),
            merchant_of(request),
            product_id,
            title=data.title,
            description=data.description,
        )

    @patch("/skus/{sku_id:str}")
    async def edit_sku(self, request: Request, sku_id: str, data: SkuPatch, runtime: Runtime) -> ProductView:
        """Change a SKU's price and/or stock on hand; answers the whole product as it now is."""
        return await catalogue.edit_sku(
            runtime.db,
            runtime.clock.now(),
            merchant_of(request),
            sku_id,
            price_minor=data.price_minor,
            stock_on_hand=data.stock_on_hand,
            by=principal_of(request).sub,
        )

    @get("/skus/{sku_id:str}/changes")
    async def sku_changes(self, request: Request, sku_id: str, runtime: Runtime) -> SkuChanges:
        """What was changed on one of the merchant's SKUs, oldest first."""
        return SkuChanges(items=await catalogue.sku_changes(runtime.db, merchant_of(request), sku_id))

    @get("/stock-shortfalls")
    async def shortfalls(self, request: Request, runtime: Runtime) -> Shortfalls:
        """Units paid for after their hold lapsed that stock could no longer supply: oversells to resolve."""
        return Shortfalls(items=await catalogue.shortfalls(runtime.db, merchant_of(request)))
