"""HTTP API of a room's bag (products and deals): add, list, remove, reorder, pin."""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.openapi import ResponseSpec

from libs.errors import Conflict
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.live.rooms import domain
from services.live.rooms.use_cases import bag
from services.live.rooms.views import Bag, BagEntry, Pin

STAFF = requires("host", "merchant")


class NewBagItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A shop product or a local_life deal: exactly one of them (else 422 `product-or-deal`)."""

    product_id: uuid.UUID | None = None
    deal_id: uuid.UUID | None = None


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


class BagOrder(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The new order: `product_ids` for a bag of products only, or `items` ({product_id} | {deal_id}) for any."""

    product_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)] | msgspec.UnsetType = msgspec.UNSET
    items: Annotated[list[NewBagItem], msgspec.Meta(max_length=1000)] | msgspec.UnsetType = msgspec.UNSET


class NewPin(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # One of them, said out loud: `null` unpins; an empty body is refused rather than taken as "unpin".
    product_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    deal_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET


@post(
    "/rooms/{room_id:str}/bag",
    guards=[STAFF],
    tags=["bag"],
    opt=documented(Conflict),
    responses={200: ResponseSpec(BagEntry, description="The product or deal was in the bag already")},
)
async def add_to_bag(room_id: str, data: NewBagItem, request: Request, runtime: Runtime) -> Response[BagEntry]:
    """Link a product or a deal to the room (201), or confirm it is there (200); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    caller = principal_of(request)
    entry, created = await bag.add_to_bag(runtime, caller, room_id, _id(data.product_id), _id(data.deal_id))
    return Response(entry, status_code=201 if created else 200)


@get("/rooms/{room_id:str}/bag", tags=["bag"])
async def get_bag(room_id: str, runtime: Runtime) -> Bag:
    """The room's bag in order: products with prices and stock state, deals (`kind` "deal") on sale or not, and
    what is pinned; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await bag.get_bag(runtime, room_id)


@delete("/rooms/{room_id:str}/bag/{product_id:str}", guards=[STAFF], tags=["bag"], status_code=204)
async def remove_from_bag(room_id: str, product_id: str, request: Request, runtime: Runtime) -> None:
    """Unlink a product from the room (unpinning it if pinned); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    await bag.remove_from_bag(runtime, principal_of(request), room_id, domain.PRODUCT, product_id)


@delete("/rooms/{room_id:str}/bag/deals/{deal_id:str}", guards=[STAFF], tags=["bag"], status_code=204)
async def remove_deal_from_bag(room_id: str, deal_id: str, request: Request, runtime: Runtime) -> None:
    """Unlink a deal from the room (unpinning it if pinned); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    await bag.remove_from_bag(runtime, principal_of(request), room_id, domain.DEAL, deal_id)


@put("/rooms/{room_id:str}/bag/order", guards=[STAFF], tags=["bag"])
async def reorder_bag(room_id: str, data: BagOrder, request: Request, runtime: Runtime) -> Bag:
    """Put the bag in this order: every entry of the bag exactly once (else 422); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    product_ids = None if data.product_ids is msgspec.UNSET else [str(p) for p in data.product_ids]
    items = None if data.items is msgspec.UNSET else [(_id(i.product_id), _id(i.deal_id)) for i in data.items]
    return await bag.reorder_bag(runtime, principal_of(request), room_id, product_ids, items)


@put("/rooms/{room_id:str}/pin", guards=[STAFF], tags=["bag"])
async def pin_product(room_id: str, data: NewPin, request: Request, runtime: Runtime) -> Pin:
    """Pin a product or a deal of the bag for every viewer (`null` unpins); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    said = {k: v if v is None else str(v) for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    return await bag.pin(runtime, principal_of(request), room_id, said)
