"""The buyer's cart."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, post

from libs.runtime import Runtime
from libs.web import principal_of, requires
from services.shop import cart
from services.shop.views import CartLineView


class Source(msgspec.Struct, kw_only=True):
    type: Literal["room", "video", "search"]
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CartItemBody(msgspec.Struct, kw_only=True):
    """A price sent along is ignored: prices come from the catalogue."""

    sku_id: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=999)]
    source: Source | None = None


class CartView(msgspec.Struct, kw_only=True):
    items: list[CartLineView]


class CartController(Controller):
    path = "/cart"
    tags = ["cart"]
    guards = [requires("buyer")]

    @get("/")
    async def view(self, request: Request, runtime: Runtime) -> CartView:
        """The caller's cart, priced now, with stock available per line."""
        return CartView(items=await cart.lines(runtime.db, principal_of(request).sub))

    @post("/items")
    async def put_item(self, request: Request, data: CartItemBody, runtime: Runtime) -> Response[CartLineView]:
        """Set the quantity of a SKU in the cart (201 for a new line, 200 for a change)."""
        source = (data.source.type, data.source.id) if data.source else None
        buyer = principal_of(request).sub
        created, line = await cart.put(runtime.db, runtime.clock.now(), buyer, data.sku_id, data.quantity, source)
        return Response(content=line, status_code=201 if created else 200)

    @delete("/items/{sku_id:str}", status_code=204)
    async def remove_item(self, request: Request, sku_id: str, runtime: Runtime) -> None:
        """Take a SKU out of the cart."""
        await cart.remove(runtime.db, principal_of(request).sub, sku_id)
