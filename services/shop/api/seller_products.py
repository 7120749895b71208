"""A merchant's own products in the seller back office: create and publish, list, read, edit."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, get, patch, post
from litestar.params import Parameter

from libs.errors import NotFound
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web import documented, idempotency_key, principal_of, requires
from services.shop.api.merchants import Currency, Name, merchant_of
from services.shop.use_cases import catalogue
from services.shop.views import ProductList, ProductView

SkuName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]
# Bounded so a typo cannot overflow the columns (bigint money, int stock).
PriceMinor = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000_000)]
Stock = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]

MERCHANT = requires("merchant")


class NewSkuBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: SkuName
    price_minor: PriceMinor
    stock: Stock
    currency: Currency | None = None  # the merchant's currency when left out


class NewProduct(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Name
    skus: Annotated[list[NewSkuBody], msgspec.Meta(min_length=1, max_length=100)]
    description: Description = ""


class ProductPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Name | None = None
    description: Description | None = None


@post(
    "/seller/products",
    guards=[MERCHANT],
    status_code=201,
    tags=["seller"],
    opt=documented(NotFound, idempotency_key="optional"),
)
async def create_product(request: Request, data: NewProduct, runtime: Runtime) -> Response[ProductView]:
    """Create and publish a product with its SKUs."""
    merchant_id = merchant_of(request)
    key = idempotency_key(request, required=False)
    skus = [catalogue.NewSku(s.name, s.price_minor, s.currency, s.stock) for s in data.skus]
    created = await catalogue.create_product(
        runtime,
        principal_of(request),
        merchant_id,
        title=data.title,
        description=data.description,
        skus=skus,
        request=data,
        key=key,
    )
    return Response(content=created, status_code=201)


@get("/seller/products", guards=[MERCHANT], tags=["seller"])
async def list_products(
    request: Request,
    runtime: Runtime,
    limit: Annotated[int, Parameter(ge=1, le=500, description="page size")] = 100,
    # Bounded so a huge offset is a 400 naming it, not an overflow in Postgres; no back office pages this far.
    offset: Annotated[int, Parameter(ge=0, le=1_000_000, description="products to skip")] = 0,
) -> ProductList:
    """The merchant's own products, newest first, with stock on hand and reserved."""
    return await catalogue.products_of(runtime, merchant_of(request), limit=limit, offset=offset)


@get("/seller/products/{product_id:str}", guards=[MERCHANT], tags=["seller"])
async def get_product(request: Request, product_id: str, runtime: Runtime) -> ProductView:
    """One of the merchant's own products."""
    merchant_id = merchant_of(request)
    tag({names.PRODUCT_ID: canonical_uuid(product_id)})
    return await catalogue.own_product(runtime, merchant_id, product_id)


@patch("/seller/products/{product_id:str}", guards=[MERCHANT], tags=["seller"])
async def edit_product(request: Request, product_id: str, data: ProductPatch, runtime: Runtime) -> ProductView:
    """Change a product's title and/or description."""
    merchant_id = merchant_of(request)
    tag({names.PRODUCT_ID: canonical_uuid(product_id)})
    return await catalogue.edit_product(
        runtime, merchant_id, product_id, title=data.title, description=data.description
    )
