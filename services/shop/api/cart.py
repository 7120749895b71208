"""The buyer's cart."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, delete, get, post
from litestar.openapi import ResponseSpec

from libs.errors import NotFound
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web import documented, principal_of, requires
from services.shop.use_cases import cart
from services.shop.views import CartLineView, CartView

BUYER = requires("buyer")


class Source(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: Literal["room", "video", "search"]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CartItemBody(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Prices come from the catalogue: a price sent along is refused as an unknown field, like any other."""

    sku_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=999)]
    source: Source | None = None


# The operation id this endpoint always had (clients generate code from it).
@get("/cart", guards=[BUYER], tags=["cart"], operation_id="CartView")
async def get_cart(request: Request, runtime: Runtime) -> CartView:
    """The caller's cart, priced now, with stock available per line."""
    buyer_id = principal_of(request).sub
    tag({names.BUYER_ID: buyer_id})
    return await cart.lines(runtime, buyer_id)


@post(
    "/cart/items",
    guards=[BUYER],
    tags=["cart"],
    opt=documented(NotFound),
    responses={200: ResponseSpec(CartLineView, description="The line was there: its quantity changed")},
)
async def put_item(request: Request, data: CartItemBody, runtime: Runtime) -> Response[CartLineView]:
    """Set the quantity of a SKU in the cart (201 for a new line, 200 for a change)."""
    buyer_id = principal_of(request).sub
    tag({names.BUYER_ID: buyer_id, names.SKU_ID: canonical_uuid(data.sku_id)})
    source = (data.source.type, data.source.id) if data.source else None
    created, line = await cart.put(runtime, buyer_id, data.sku_id, data.quantity, source)
    return Response(content=line, status_code=201 if created else 200)


@delete("/cart/items/{sku_id:str}", guards=[BUYER], tags=["cart"], status_code=204)
async def remove_item(request: Request, sku_id: str, runtime: Runtime) -> None:
    """Take a SKU out of the cart."""
    buyer_id = principal_of(request).sub
    tag({names.BUYER_ID: buyer_id, names.SKU_ID: canonical_uuid(sku_id)})
    await cart.remove(runtime, buyer_id, sku_id)
