"""HTTP API of flash sales: hosts and merchants run them, buyers purchase, anyone watches."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Request, Response, get, post
from opentelemetry import trace

from libs.db import write_once
from libs.ids import canonical_uuid, derived_id
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.problems import Problem, problem_response
from libs.web.throttle import throttled
from services.live.sales import flash
from services.live.sales.admission import DESK, AdmissionDesk
from services.live.sales.domain import Admitted, FlashSale, FlashSaleList, FlashSaleReport, NewSaleTerms, Purchase
from services.live.sales.fastlane import PURCHASES, PurchaseFastLane

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class NewFlashSale(msgspec.Struct, kw_only=True):
    # Ranges are checked by the domain (422 naming the field), not here (a decode error is a 400).
    sku_id: uuid.UUID
    quantity: int
    price_minor: int
    per_buyer_limit: int
    duration_s: int
    starts_at: UtcTime | None = None
    pay_within_s: int | None = None


def desk(runtime: Runtime) -> AdmissionDesk:
    """This process's admission engine (made on first use if on_start has not)."""
    found = runtime.extras.get(DESK)
    if found is None:
        found = runtime.extras[DESK] = AdmissionDesk(runtime)
    return found


def _room_id(room_id: str) -> str:
    parsed = canonical_uuid(room_id)
    if parsed:
        trace.get_current_span().set_attribute(names.ROOM_ID, parsed)
    return parsed or room_id


@post("/rooms/{room_id:str}/flash-sales", guards=[requires("host", "merchant")], tags=["flash sales"])
async def create_flash_sale(
    room_id: str, data: NewFlashSale, request: Request, runtime: Runtime
) -> Response[FlashSale]:
    """Put N units of a bag SKU on flash sale (shop sets them aside); Idempotency-Key honoured."""
    room_id = _room_id(room_id)
    principal = principal_of(request)
    key = idempotency_key(request, required=False)
    # With a key, a retry names the same sale, hence the same allocation at shop: nothing is set aside twice.
    sale_id = derived_id("flash-sale", principal.sub, room_id, key) if key else str(uuid.uuid4())
    pay_within_s = data.pay_within_s if data.pay_within_s is not None else runtime.settings.flash_sale_payment_window_s
    terms = NewSaleTerms(
        quantity=data.quantity,
        price_minor=data.price_minor,
        per_buyer_limit=data.per_buyer_limit,
        duration_s=data.duration_s,
        pay_within_s=pay_within_s,
        starts_at=data.starts_at,
    )

    async def effect(conn: asyncpg.Connection) -> FlashSale:
        return await flash.create_sale(
            conn, runtime, principal, room_id, sale_id=sale_id, sku_id=str(data.sku_id), terms=terms
        )

    with baggage_set(**{names.ROOM_ID: canonical_uuid(room_id)}):
        body = await write_once(
            runtime.db,
            caller=principal,
            scope=f"live.flash_sale.create:{room_id}",
            key=key,
            request={**msgspec.to_builtins(data), "pay_within_s": pay_within_s},
            effect=effect,
        )
    return Response(body, status_code=201)


@post(
    "/rooms/{room_id:str}/flash-sales/{sale_id:str}/end",
    guards=[requires("host", "merchant")],
    tags=["flash sales"],
    status_code=200,
)
async def end_flash_sale(room_id: str, sale_id: str, request: Request, runtime: Runtime) -> FlashSale:
    """End a sale now (a scheduled one is cancelled); unsold units go back to shop."""
    sale = await flash.end_by_staff(runtime.db, runtime.clock, principal_of(request), _room_id(room_id), sale_id)
    desk(runtime).forget_ended(sale.sale_id)
    return sale


@get("/rooms/{room_id:str}/flash-sales", tags=["flash sales"])
async def list_flash_sales(room_id: str, runtime: Runtime) -> FlashSaleList:
    """The room's flash sales, newest first; public."""
    return await flash.list_sales(runtime.db, runtime.clock, _room_id(room_id))


@get("/rooms/{room_id:str}/flash-sales/{sale_id:str}", tags=["flash sales"])
async def get_flash_sale(room_id: str, sale_id: str, runtime: Runtime) -> FlashSale:
    """A sale with its status and units left; public."""
    return await flash.get_sale(runtime.db, runtime.clock, _room_id(room_id), sale_id)


@get(
    "/rooms/{room_id:str}/flash-sales/{sale_id:str}/report", guards=[requires("host", "merchant")], tags=["flash sales"]
)
async def flash_sale_report(room_id: str, sale_id: str, request: Request, runtime: Runtime) -> FlashSaleReport:
    """How the sale went (units admitted, paid, expired, returned), for the room's host and merchant."""
    return await flash.report(runtime.db, runtime.clock, principal_of(request), _room_id(room_id), sale_id)


@post(
    "/rooms/{room_id:str}/flash-sales/{sale_id:str}/purchase",
    guards=[requires("buyer"), throttled(PURCHASES)],
    middleware=[PurchaseFastLane],
    tags=["flash sales"],
    status_code=201,
)
async def purchase(
    room_id: str, sale_id: str, data: Purchase, request: Request, runtime: Runtime
) -> Response[Admitted]:
    """Ask for units of a running sale (Idempotency-Key required): 201 admitted, with the order to pay."""
    buyer = principal_of(request)
    key = idempotency_key(request)
    answer = await desk(runtime).purchase(_room_id(room_id), sale_id, buyer.sub, key, data.quantity)
    if isinstance(answer, Problem):
        # Refusals are most answers once a sale sells out: rendered here rather than raised through the stack.
        return problem_response(request, answer)
    return Response(answer, status_code=201)


ROUTES = [create_flash_sale, end_flash_sale, list_flash_sales, get_flash_sale, flash_sale_report, purchase]
