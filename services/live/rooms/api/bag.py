"""HTTP API of a room's bag: add, list, remove, reorder, pin."""

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
from services.live.rooms.use_cases import bag
from services.live.rooms.views import Bag, BagEntry, Pin

STAFF = requires("host", "merchant")


class NewBagItem(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    product_id: uuid.UUID


class BagOrder(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    product_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=1000)]


class NewPin(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Required, so that unpinning is said out loud (`null`) rather than implied by an empty body.
    product_id: uuid.UUID | None


@post(
    "/rooms/{room_id:str}/bag",
    guards=[STAFF],
    tags=["bag"],
    opt=documented(Conflict),
    responses={200: ResponseSpec(BagEntry, description="The product was in the bag already")},
)
async def add_to_bag(room_id: str, data: NewBagItem, request: Request, runtime: Runtime) -> Response[BagEntry]:
    """Link a product to the room (201), or confirm it is there (200); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    caller = principal_of(request)
    entry, created = await bag.add_to_bag(runtime, caller, room_id, str(data.product_id))
    return Response(entry, status_code=201 if created else 200)


@get("/rooms/{room_id:str}/bag", tags=["bag"])
async def get_bag(room_id: str, runtime: Runtime) -> Bag:
    """The room's bag in order, with prices, stock state and the pinned product; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await bag.get_bag(runtime, room_id)


@delete("/rooms/{room_id:str}/bag/{product_id:str}", guards=[STAFF], tags=["bag"], status_code=204)
async def remove_from_bag(room_id: str, product_id: str, request: Request, runtime: Runtime) -> None:
    """Unlink a product from the room (unpinning it if pinned); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    await bag.remove_from_bag(runtime, principal_of(request), room_id, product_id)


@put("/rooms/{room_id:str}/bag/order", guards=[STAFF], tags=["bag"])
async def reorder_bag(room_id: str, data: BagOrder, request: Request, runtime: Runtime) -> Bag:
    """Put the bag in this order: every product of the bag exactly once (else 422); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    product_ids = [str(p) for p in data.product_ids]
    return await bag.reorder_bag(runtime, principal_of(request), room_id, product_ids)


@put("/rooms/{room_id:str}/pin", guards=[STAFF], tags=["bag"])
async def pin_product(room_id: str, data: NewPin, request: Request, runtime: Runtime) -> Pin:
    """Pin a product of the bag for every viewer (`null` unpins); the room's host or merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    product_id = str(data.product_id) if data.product_id else None
    return await bag.pin(runtime, principal_of(request), room_id, product_id)
