"""A merchant's own SKUs in the seller back office: price and stock edits, and their history."""

from __future__ import annotations

import msgspec
from litestar import Request, get, patch

from libs.errors import Conflict
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web import documented, principal_of
from services.shop.api.merchants import merchant_of
from services.shop.api.seller_products import MERCHANT, PriceMinor, Stock
from services.shop.use_cases import catalogue
from services.shop.views import ProductView, SkuChanges


class SkuPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    price_minor: PriceMinor | None = None
    stock_on_hand: Stock | None = None


@patch("/seller/skus/{sku_id:str}", guards=[MERCHANT], tags=["seller"], opt=documented(Conflict))
async def edit_sku(request: Request, sku_id: str, data: SkuPatch, runtime: Runtime) -> ProductView:
    """Change a SKU's price and/or stock on hand; answers the whole product as it now is."""
    merchant_id = merchant_of(request)
    tag({names.SKU_ID: canonical_uuid(sku_id)})
    return await catalogue.edit_sku(
        runtime,
        merchant_id,
        sku_id,
        price_minor=data.price_minor,
        stock_on_hand=data.stock_on_hand,
        by=principal_of(request).sub,
    )


@get("/seller/skus/{sku_id:str}/changes", guards=[MERCHANT], tags=["seller"])
async def sku_changes(request: Request, sku_id: str, runtime: Runtime) -> SkuChanges:
    """What was changed on one of the merchant's SKUs, oldest first."""
    merchant_id = merchant_of(request)
    tag({names.SKU_ID: canonical_uuid(sku_id)})
    return await catalogue.sku_changes(runtime, merchant_id, sku_id)
