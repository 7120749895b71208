"""Stock shortfalls: units a merchant's buyers paid for that stock could no longer supply."""

from __future__ import annotations

from litestar import Request, get

from libs.runtime import Runtime
from services.shop.api.merchants import merchant_of
from services.shop.api.seller_products import MERCHANT
from services.shop.use_cases import catalogue
from services.shop.views import Shortfalls


@get("/seller/stock-shortfalls", guards=[MERCHANT], tags=["seller"])
async def shortfalls(request: Request, runtime: Runtime) -> Shortfalls:
    """Units paid for after their hold lapsed that stock could no longer supply: oversells to resolve."""
    return await catalogue.shortfalls(runtime, merchant_of(request))
