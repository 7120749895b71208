"""The merchant's cases: the queue (soonest deadline first), one case, and the merchant's moves."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter

from libs.errors import Conflict, Invalid, Unavailable
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.aftersales.use_cases import cases, moves
from services.aftersales.views import CasePage, CaseView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Status = Annotated[str | None, Parameter(max_length=40, description="only cases in this status")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ReasonRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason


class RestockLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    line_no: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    # Units of the line fit to sell again (the rest came back damaged).
    restockable: Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class ConfirmReceiptRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    # Lines not named: every unit restockable.
    lines: Annotated[list[RestockLine], msgspec.Meta(max_length=50)] = []


class ShipmentRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    carrier: Text
    tracking_number: Text


@get("/seller/cases", guards=[requires("merchant")], tags=["seller"])
async def list_seller_cases(request: Request, runtime: Runtime, status: Status = None, limit: Limit = 50) -> CasePage:
    """The merchant's cases, soonest deadline first (none last), each with whose move it is."""
    return await cases.merchant_page(runtime, principal_of(request), status=status, limit=limit)


@get("/seller/cases/{case_id:str}", guards=[requires("merchant")], tags=["seller"])
async def get_seller_case(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """One of the merchant's own cases (another merchant's is 404)."""
    return await cases.case_of(runtime, principal_of(request), case_id)


@post(
    "/seller/cases/{case_id:str}/approve",
    guards=[requires("merchant")],
    status_code=200,
    tags=["seller"],
    opt=documented(Conflict),
)
async def approve_case(request: Request, case_id: str, runtime: Runtime) -> CaseView:
    """Approve: a refund-only case is refunded; a return awaits the buyer's parcel."""
    return await moves.act(runtime, principal_of(request), case_id, "approve")


@post(
    "/seller/cases/{case_id:str}/reject",
    guards=[requires("merchant")],
    status_code=200,
    tags=["seller"],
    opt=documented(Conflict),
)
async def reject_case(request: Request, case_id: str, data: ReasonRequest, runtime: Runtime) -> CaseView:
    """Reject, saying why: the buyer may escalate to an operator."""
    return await moves.act(runtime, principal_of(request), case_id, "reject", fields={"reject_reason": data.reason})


@post(
    "/seller/cases/{case_id:str}/confirm-receipt",
    guards=[requires("merchant")],
    status_code=200,
    tags=["seller"],
    opt=documented(Conflict, Invalid, Unavailable),
)
async def confirm_receipt(
    request: Request, case_id: str, runtime: Runtime, data: ConfirmReceiptRequest | None = None
) -> CaseView:
    """The return came back (how many units of each line can be sold again; all by default)."""
    asked = [(line.line_no, line.restockable) for line in (data.lines if data else [])]
    return await moves.act(runtime, principal_of(request), case_id, "confirm_receipt", restockable=asked)


@post(
    "/seller/cases/{case_id:str}/refuse-receipt",
    guards=[requires("merchant")],
    status_code=200,
    tags=["seller"],
    opt=documented(Conflict),
)
async def refuse_receipt(request: Request, case_id: str, data: ReasonRequest, runtime: Runtime) -> CaseView:
    """The return did not come back as it should (saying why): the buyer may escalate."""
    return await moves.act(
        runtime, principal_of(request), case_id, "refuse_receipt", fields={"refuse_reason": data.reason}
    )


@post(
    "/seller/cases/{case_id:str}/ship-replacement",
    guards=[requires("merchant")],
    status_code=200,
    tags=["seller"],
    opt=documented(Conflict),
)
async def ship_replacement(request: Request, case_id: str, data: ShipmentRequest, runtime: Runtime) -> CaseView:
    """The exchange's replacement is on its way: the case is done."""
    fields = {"replacement_carrier": data.carrier, "replacement_tracking": data.tracking_number}
    return await moves.act(runtime, principal_of(request), case_id, "ship_replacement", fields=fields)
