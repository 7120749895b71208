"""Merchants: onboarding (operators), the public profile, and which merchant a merchant's token acts for."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, get, post

from libs.errors import Forbidden
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web import documented, idempotency_key, principal_of, requires
from services.shop.use_cases import catalogue
from services.shop.views import MerchantView

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217, upper case")]


def merchant_of(request: Request) -> str:
    """The merchant the caller's token acts for, tagged on the span (403 if the token names none)."""
    merchant_id = principal_of(request).merchant_id
    if not merchant_id:
        raise Forbidden("this merchant token names no merchant_id")
    tag({names.MERCHANT_ID: merchant_id})
    return merchant_id


class NewMerchant(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    currency: Currency


@post(
    "/merchants",
    guards=[requires("operator")],
    status_code=201,
    tags=["merchants"],
    opt=documented(idempotency_key="optional"),
)
async def onboard(request: Request, data: NewMerchant, runtime: Runtime) -> Response[MerchantView]:
    """Onboard a merchant (operators only)."""
    key = idempotency_key(request, required=False)
    merchant = await catalogue.create_merchant(
        runtime, principal_of(request), name=data.name, currency=data.currency, request=data, key=key
    )
    return Response(content=merchant, status_code=201)


@get("/merchants/{merchant_id:str}", tags=["merchants"])
async def profile(merchant_id: str, runtime: Runtime) -> MerchantView:
    """A merchant's public profile."""
    return await catalogue.merchant(runtime, merchant_id)
