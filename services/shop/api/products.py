"""The public product: what any buyer sees of a published product, and product search."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import Parameter

from libs.errors import Invalid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web import documented
from services.shop.use_cases import catalogue, search
from services.shop.views import ProductSearchPage, PublicProductView

Query = Annotated[str | None, Parameter(min_length=1, max_length=100, description="words of a product's title")]
Price = Annotated[int | None, Parameter(ge=0, le=1_000_000_000_000, description="minor units")]
InStock = Annotated[
    bool | None, Parameter(description="true: only products some SKU of which can be bought; false: only sold out")
]
MerchantId = Annotated[
    str | None, Parameter(max_length=100, description="only this merchant's products (one that is no id: none)")
]
Limit = Annotated[int, Parameter(ge=1, le=50, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=400, description="`next_cursor` of the previous page")]


@get("/products", tags=["catalogue"], opt=documented(Invalid))
async def search_products(
    runtime: Runtime,
    q: Query = None,
    min_price_minor: Price = None,
    max_price_minor: Price = None,
    in_stock: InStock = None,
    merchant_id: MerchantId = None,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> ProductSearchPage:
    """Published products whose title matches q (trigram similarity, typos tolerated; a substring for one or two
    letters), best match first; without q, newest first. A price range keeps products with a SKU priced in it;
    `merchant_id` keeps one merchant's."""
    return await search.search_products(
        runtime,
        q=q,
        min_price_minor=min_price_minor,
        max_price_minor=max_price_minor,
        in_stock=in_stock,
        merchant_id=merchant_id,
        limit=limit,
        cursor=cursor,
    )


@get("/products/{product_id:str}", tags=["catalogue"])
async def product(product_id: str, runtime: Runtime) -> PublicProductView:
    """A published product with its prices and the stock still available per SKU."""
    tag({names.PRODUCT_ID: canonical_uuid(product_id)})
    return await catalogue.public_product(runtime, product_id)
