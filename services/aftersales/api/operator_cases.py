"""Operators: the cases waiting for them (escalated, refund failed), one case, a ruling, a refund's retry."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter

from libs.errors import Conflict, Unavailable
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.aftersales.use_cases import cases, moves
from services.aftersales.views import CasePage, CaseView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]


class DecideRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # `for` in the design; a Python keyword, hence the longer name.
    in_favour_of: Literal["buyer", "merchant"]
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


@get("/operator/cases", guards=[requires("operator")], tags=["operator"])
async def list_operator_cases(runtime: Runtime, limit: Limit = 50) -> CasePage:
    """Cases waiting for an operator (escalated, refund failed), longest waiting first."""
    return await cases.operator_page(runtime, limit=limit)


@get("/operator/cases/{case_id:str}", guards=[requires("operator")], tags=["operator"])
async def get_operator_case(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """Any case, with its history."""
    return await cases.case_of(runtime, principal_of(request), case_id)


@post(
    "/operator/cases/{case_id:str}/decide",
    guards=[requires("operator")],
    status_code=200,
    tags=["operator"],
    opt=documented(Conflict, Unavailable),
)
async def decide_case(request: Request, case_id: str, data: DecideRequest, runtime: Runtime) -> CaseView:
    """Rule on an escalated case: for the buyer (approved, or received) or for the merchant (closed)."""
    return await moves.act(
        runtime,
        principal_of(request),
        case_id,
        "decide",
        in_favour_of=data.in_favour_of,
        note=data.note,
        fields={"decision_note": data.note},
    )


@post(
    "/operator/cases/{case_id:str}/retry-refund",
    guards=[requires("operator")],
    status_code=200,
    tags=["operator"],
    opt=documented(Conflict),
)
async def retry_refund(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """Grant the failed refund again (a new grant id: the next attempt)."""
    return await moves.act(runtime, principal_of(request), case_id, "retry_refund")
