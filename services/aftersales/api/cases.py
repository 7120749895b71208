"""The buyer's cases: open one (Idempotency-Key required), read them, and the buyer's moves."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter

from libs.errors import Conflict, Invalid, NotFound, Unavailable
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from services.aftersales.domain.opening import AskedLine
from services.aftersales.use_cases import cases, moves
from services.aftersales.views import CasePage, CaseView

Kind = Literal["refund_only", "return_and_refund", "exchange"]
ReasonCode = Literal["not_received", "damaged", "wrong_item", "not_as_described", "changed_mind", "other"]
Url = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s]+$")]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CaseLineRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    line_no: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    # exchange: the SKU wanted instead (another of the same product); the same SKU when left out.
    replacement_sku_id: uuid.UUID | None = None


class OpenCaseRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    order_id: uuid.UUID
    kind: Kind
    reason_code: ReasonCode
    lines: Annotated[list[CaseLineRequest], msgspec.Meta(min_length=1, max_length=50)]
    description: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    evidence_urls: Annotated[list[Url], msgspec.Meta(max_length=9)] = []


class ReturnShipmentRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    carrier: Text
    tracking_number: Text


@post(
    "/cases",
    guards=[requires("buyer")],
    status_code=201,
    tags=["cases"],
    opt=documented(NotFound, Conflict, Invalid, Unavailable, idempotency_key="required"),
)
async def open_case(request: Request, data: OpenCaseRequest, runtime: Runtime) -> CaseView:
    """Open a case on a paid order of the buyer's: refund only, return and refund, or exchange."""
    key = idempotency_key(request)
    lines = [
        AskedLine(
            line_no=line.line_no,
            quantity=line.quantity,
            replacement_sku_id=str(line.replacement_sku_id) if line.replacement_sku_id else None,
        )
        for line in data.lines
    ]
    return await cases.open_case(
        runtime,
        principal_of(request),
        order_id=str(data.order_id),
        kind=data.kind,
        reason_code=data.reason_code,
        description=data.description,
        evidence_urls=data.evidence_urls,
        lines=lines,
        request=data,
        key=key or "",
    )


@get("/cases", guards=[requires("buyer")], tags=["cases"])
async def list_cases(request: Request, runtime: Runtime, limit: Limit = 20, cursor: Cursor = None) -> CasePage:
    """The buyer's own cases, newest first."""
    return await cases.buyer_page(runtime, principal_of(request), limit=limit, cursor=cursor)


@get("/cases/{case_id:str}", guards=[requires("buyer")], tags=["cases"])
async def get_case(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """One of the buyer's own cases, with its history (anyone else's is 404)."""
    return await cases.case_of(runtime, principal_of(request), case_id)


@post(
    "/cases/{case_id:str}/return-shipment",
    guards=[requires("buyer")],
    status_code=200,
    tags=["cases"],
    opt=documented(Conflict),
)
async def send_return(request: Request, case_id: str, data: ReturnShipmentRequest, runtime: Runtime) -> CaseView:
    """The buyer sent the goods back: the return's carrier and tracking number."""
    fields = {"return_carrier": data.carrier, "return_tracking": data.tracking_number}
    return await moves.act(runtime, principal_of(request), case_id, "send_return", fields=fields)


@post(
    "/cases/{case_id:str}/cancel",
    guards=[requires("buyer")],
    status_code=200,
    tags=["cases"],
    opt=documented(Conflict, Unavailable),
)
async def cancel_case(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """The buyer withdraws the case."""
    return await moves.act(runtime, principal_of(request), case_id, "cancel")


@post(
    "/cases/{case_id:str}/escalate",
    guards=[requires("buyer")],
    status_code=200,
    tags=["cases"],
    opt=documented(Conflict),
)
async def escalate_case(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """The buyer asks an operator to decide a rejected case or a refused receipt."""
    return await moves.act(runtime, principal_of(request), case_id, "escalate")


@post(
    "/cases/{case_id:str}/accept-refund",
    guards=[requires("buyer")],
    status_code=200,
    tags=["cases"],
    opt=documented(Conflict),
)
async def accept_refund(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """The buyer takes the refund offered when the replacement was out of stock."""
    return await moves.act(runtime, principal_of(request), case_id, "accept_refund")
