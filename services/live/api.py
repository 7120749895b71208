"""HTTP API of live: rooms, their bag, joins and stats."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Request, Response, delete, get, post
from opentelemetry import trace

from libs.auth import Principal
from libs.ids import canonical_uuid
from libs.telemetry import baggage_set, names
from libs.web.app import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key, run_idempotent
from services.live import domain, use_cases
from services.live.domain import Bag, BagEntry, Room, RoomStats, View

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
# http(s) only: a cover is shown to every viewer, so no javascript:, data: or ftp: URLs.
CoverUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$")]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class NewRoom(msgspec.Struct, kw_only=True):
    title: Title
    # Taken from the host's token; if given it must be that merchant.
    merchant_id: uuid.UUID | None = None
    cover_url: CoverUrl | None = None
    scheduled_start_at: UtcTime | None = None


class NewBagItem(msgspec.Struct, kw_only=True):
    product_id: uuid.UUID


def _tag_room(room_id: str) -> None:
    """Attribute this request's span to the room (only well-formed ids: the value comes from the client)."""
    parsed = canonical_uuid(room_id)
    if parsed:
        trace.get_current_span().set_attribute(names.ROOM_ID, parsed)


async def _write(
    runtime: Runtime,
    request: Request,
    principal: Principal,
    scope: str,
    body: object,
    effect: Callable[[asyncpg.Connection], Awaitable[tuple[int, object]]],
) -> Response:
    """Run a write in one transaction; with an Idempotency-Key, a retry gets the first answer back."""
    key = idempotency_key(request, required=False)
    if key is None:
        async with runtime.db.transaction() as conn:
            status, content = await effect(conn)
    else:
        status, content = await run_idempotent(
            runtime.db, principal=principal.sub, scope=scope, key=key, request_body=body, effect=effect
        )
    return Response(content, status_code=status)


@post("/rooms", guards=[requires("host")], tags=["rooms"], status_code=201)
async def create_room(data: NewRoom, request: Request, runtime: Runtime) -> Response[Room]:
    """Create a scheduled room hosted by the caller, for the merchant its token names (Idempotency-Key honoured)."""
    host = principal_of(request)
    merchant_id = domain.room_merchant(host, str(data.merchant_id) if data.merchant_id else None)
    fields = {**msgspec.structs.asdict(data), "merchant_id": merchant_id}

    async def effect(conn: asyncpg.Connection) -> tuple[int, Room]:
        return 201, await use_cases.create_room(conn, runtime.clock, host, **fields)

    return await _write(runtime, request, host, "live.create_room", fields, effect)


@get("/rooms/{room_id:str}", tags=["rooms"])
async def get_room(room_id: str, runtime: Runtime) -> Room:
    """A room; public."""
    _tag_room(room_id)
    return await use_cases.get_room(runtime.db, room_id)


@post("/rooms/{room_id:str}/bag", guards=[requires("host")], tags=["bag"])
async def add_to_bag(room_id: str, data: NewBagItem, request: Request, runtime: Runtime) -> Response[BagEntry]:
    """Link a product to the room (201), or confirm it is there (200); only the room's host."""
    _tag_room(room_id)
    host = principal_of(request)
    entry, created = await use_cases.add_to_bag(runtime.db, runtime.clock, host, room_id, str(data.product_id))
    return Response(entry, status_code=201 if created else 200)


@get("/rooms/{room_id:str}/bag", tags=["bag"])
async def get_bag(room_id: str, runtime: Runtime) -> Bag:
    """The room's bag with prices and stock state; public."""
    _tag_room(room_id)
    return await use_cases.get_bag(runtime.db, room_id)


@delete("/rooms/{room_id:str}/bag/{product_id:str}", guards=[requires("host")], tags=["bag"], status_code=204)
async def remove_from_bag(room_id: str, product_id: str, request: Request, runtime: Runtime) -> None:
    """Unlink a product from the room; only the room's host."""
    _tag_room(room_id)
    await use_cases.remove_from_bag(runtime.db, principal_of(request), room_id, product_id)


@post("/rooms/{room_id:str}/join", guards=[requires("buyer")], tags=["views"], status_code=200)
async def join_room(room_id: str, request: Request, runtime: Runtime) -> Response[View]:
    """Count a view of the room by the caller (Idempotency-Key honoured)."""
    _tag_room(room_id)
    viewer = principal_of(request)

    async def effect(conn: asyncpg.Connection) -> tuple[int, View]:
        return 200, await use_cases.join_room(conn, runtime.clock, viewer, room_id)

    with baggage_set(**{names.ROOM_ID: canonical_uuid(room_id)}):
        return await _write(runtime, request, viewer, f"live.join:{room_id}", {}, effect)


@get("/rooms/{room_id:str}/stats", guards=[requires("host", "merchant")], tags=["stats"])
async def get_stats(room_id: str, request: Request, runtime: Runtime) -> RoomStats:
    """Views and paid orders of the room, for its host or its merchant."""
    _tag_room(room_id)
    return await use_cases.get_stats(runtime.db, principal_of(request), room_id)


ROUTES = [create_room, get_room, add_to_bag, get_bag, remove_from_bag, join_room, get_stats]
