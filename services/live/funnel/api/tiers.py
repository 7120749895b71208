"""HTTP API of tiers: a host's tier (S/A/B/C), a merchant's customers by segment, and their recomputes on demand."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get, post
from litestar.params import Parameter

from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.live.funnel.domain.tiers import (
    CustomerPage,
    CustomersNotFound,
    HostTierAnswer,
    InvalidCursor,
    SegmentsComputed,
    TierNotFound,
    TiersComputed,
    UnknownSegment,
)
from services.live.funnel.use_cases import tiers

MERCHANT = requires("merchant")
HostId = Annotated[str, Parameter(min_length=1, max_length=200, description="the `sub` of the host's token")]
Segment = Annotated[
    str | None,
    Parameter(max_length=40, description="prospect | new | active | paying | loyal | at_risk (all when absent)"),
]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]


@get(
    "/hosts/{host_id:str}/tier",
    guards=[requires("host", "merchant", "operator")],
    tags=["tiers"],
    opt=documented(TierNotFound),
)
async def host_tier(host_id: HostId, request: Request, runtime: Runtime) -> HostTierAnswer:
    """The host's tier, the figures and time it was computed from, and its changes; the host, a merchant it hosts
    for, or an operator."""
    return await tiers.host_tier(runtime, principal_of(request), host_id)


@post("/host-tiers/recompute", guards=[requires("operator")], tags=["tiers"], status_code=200)
async def recompute_host_tiers(runtime: Runtime) -> TiersComputed:
    """Recompute every host's tier now (the daily job does it too); operators."""
    return await tiers.recompute_host_tiers(runtime)


@get(
    "/merchants/{merchant_id:str}/customers",
    guards=[MERCHANT],
    tags=["tiers"],
    opt=documented(CustomersNotFound, UnknownSegment, InvalidCursor),
)
async def customers(
    merchant_id: str,
    request: Request,
    runtime: Runtime,
    segment: Segment = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> CustomerPage:
    """The merchant's customers with recency, frequency, monetary and segment, most monetary first; its own only."""
    caller = principal_of(request)
    return await tiers.list_customers(runtime, caller, merchant_id, segment=segment, cursor=cursor, limit=limit)


@post(
    "/merchants/{merchant_id:str}/customers/recompute",
    guards=[MERCHANT],
    tags=["tiers"],
    status_code=200,
    opt=documented(CustomersNotFound),
)
async def recompute_customers(merchant_id: str, request: Request, runtime: Runtime) -> SegmentsComputed:
    """Recompute the merchant's customer segments now (the daily job does it too); its own only."""
    return await tiers.recompute_segments(runtime, principal_of(request), merchant_id)


ROUTES = [host_tier, recompute_host_tiers, customers, recompute_customers]
