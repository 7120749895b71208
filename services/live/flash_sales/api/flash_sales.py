"""HTTP API of flash sales: hosts and merchants run them, anyone watches (purchases: purchases.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Request, Response, get, post

from libs.errors import Conflict, Unavailable
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names, tag
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from services.live.flash_sales.use_cases import sales
from services.live.flash_sales.views import FlashSale, FlashSaleList, FlashSaleReport

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class NewFlashSale(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Ranges are checked by the domain (422 naming the field), not here (a decode error is a 400).
    sku_id: uuid.UUID
    quantity: int
    price_minor: int
    per_buyer_limit: int
    duration_s: int
    starts_at: UtcTime | None = None
    pay_within_s: int | None = None


@post(
    "/rooms/{room_id:str}/flash-sales",
    guards=[requires("host", "merchant")],
    tags=["flash sales"],
    opt=documented(Conflict, Unavailable, idempotency_key="optional"),
)
async def create_flash_sale(
    room_id: str, data: NewFlashSale, request: Request, runtime: Runtime
) -> Response[FlashSale]:
    """Put N units of a bag SKU on flash sale (shop sets them aside); Idempotency-Key honoured."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    principal = principal_of(request)
    key = idempotency_key(request, required=False)
    with baggage_set(**{names.ROOM_ID: canonical_uuid(room_id)}):
        sale = await sales.create_sale(
            runtime,
            principal,
            room_id,
            key=key,
            sku_id=str(data.sku_id),
            quantity=data.quantity,
            price_minor=data.price_minor,
            per_buyer_limit=data.per_buyer_limit,
            duration_s=data.duration_s,
            starts_at=data.starts_at,
            pay_within_s=data.pay_within_s,
        )
    return Response(sale, status_code=201)


@post(
    "/rooms/{room_id:str}/flash-sales/{sale_id:str}/end",
    guards=[requires("host", "merchant")],
    tags=["flash sales"],
    status_code=200,
)
async def end_flash_sale(room_id: str, sale_id: str, request: Request, runtime: Runtime) -> FlashSale:
    """End a sale now (a scheduled one is cancelled); unsold units go back to shop."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await sales.end_by_staff(runtime, principal_of(request), room_id, sale_id)


@get("/rooms/{room_id:str}/flash-sales", tags=["flash sales"])
async def list_flash_sales(room_id: str, runtime: Runtime) -> FlashSaleList:
    """The room's flash sales, newest first; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await sales.list_sales(runtime, room_id)


@get("/rooms/{room_id:str}/flash-sales/{sale_id:str}", tags=["flash sales"])
async def get_flash_sale(room_id: str, sale_id: str, runtime: Runtime) -> FlashSale:
    """A sale with its status and units left; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await sales.get_sale(runtime, room_id, sale_id)


@get(
    "/rooms/{room_id:str}/flash-sales/{sale_id:str}/report", guards=[requires("host", "merchant")], tags=["flash sales"]
)
async def flash_sale_report(room_id: str, sale_id: str, request: Request, runtime: Runtime) -> FlashSaleReport:
    """How the sale went (units admitted, paid, expired, returned), for the room's host and merchant."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    return await sales.report(runtime, principal_of(request), room_id, sale_id)
