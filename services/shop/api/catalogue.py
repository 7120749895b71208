"""Merchants (onboarding, public profile) and the public product view."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, Response, get, post

from libs.runtime import Runtime
from libs.web import requires
from services.shop import catalogue
from services.shop.api.common import Currency, Name, write_once
from services.shop.views import MerchantView, PublicProductView


class NewMerchant(msgspec.Struct, kw_only=True):
    name: Name
    currency: Currency


class MerchantController(Controller):
    path = "/merchants"
    tags = ["merchants"]

    @post("/", guards=[requires("operator")], status_code=201)
    async def onboard(self, request: Request, data: NewMerchant, runtime: Runtime) -> Response[MerchantView]:
        """Onboard a merchant (operators only)."""
        return await write_once(
            request,
            runtime,
            scope="create-merchant",
            body=data,
            effect=lambda conn: catalogue.create_merchant(conn, runtime.clock.now(), data.name, data.currency),
        )

    @get("/{merchant_id:str}")
    async def profile(self, merchant_id: str, runtime: Runtime) -> MerchantView:
        """A merchant's public profile."""
        return await catalogue.merchant(runtime.db, merchant_id)


class CatalogueController(Controller):
    path = "/products"
    tags = ["catalogue"]

    @get("/{product_id:str}")
    async def product(self, product_id: str, runtime: Runtime) -> PublicProductView:
        """A published product with its prices and the stock still available per SKU."""
        return await catalogue.public_product(runtime.db, product_id)
