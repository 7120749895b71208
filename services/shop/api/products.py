"""The public product: what any buyer sees of a published product."""

from __future__ import annotations

from litestar import get

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.shop.use_cases import catalogue
from services.shop.views import PublicProductView


@get("/products/{product_id:str}", tags=["catalogue"])
async def product(product_id: str, runtime: Runtime) -> PublicProductView:
    """A published product with its prices and the stock still available per SKU."""
    tag({names.PRODUCT_ID: canonical_uuid(product_id)})
    return await catalogue.public_product(runtime, product_id)
