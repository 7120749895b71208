"""A merchant's reports (redemptions per store per day, vouchers per deal) and settlements, own data only."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import Parameter

from libs.errors import Conflict, Invalid, NotFound
from libs.runtime import Runtime
from libs.web import documented, idempotency_key, principal_of, requires
from services.local_life.api.seller_stores import Cursor, Limit, merchant_of
from services.local_life.use_cases import reports
from services.local_life.views import RedemptionReport, SettlementDue, SettlementPage, SettlementView, VoucherReport

MERCHANT = requires("merchant")

FromDay = Annotated[date, Parameter(query="from", description="first day (YYYY-MM-DD, each store's own time zone)")]
ToDay = Annotated[date, Parameter(query="to", description="last day, inclusive (at most 366 days after `from`)")]
DealId = Annotated[str | None, Parameter(max_length=64, description="only this deal")]


@get("/seller/reports/redemptions", guards=[MERCHANT], tags=["seller"], opt=documented(Invalid))
async def redemption_report(request: Request, runtime: Runtime, from_day: FromDay, to_day: ToDay) -> RedemptionReport:
    """Redemptions not undone, per store per day (the store's time zone) and currency, with their amount."""
    return await reports.redemptions_report(runtime, merchant_of(request), from_day, to_day)


@get("/seller/reports/vouchers", guards=[MERCHANT], tags=["seller"], opt=documented(NotFound))
async def voucher_report(request: Request, runtime: Runtime, deal_id: DealId = None) -> VoucherReport:
    """Per deal: vouchers sold, unused, redeemed, refund pending, refunded and expired."""
    return await reports.vouchers_report(runtime, merchant_of(request), deal_id)


@get("/seller/settlement", guards=[MERCHANT], tags=["seller"])
async def settlement_due(request: Request, runtime: Runtime) -> SettlementDue:
    """What is due: redeemed, not undone, past the undo window, not settled; count and amount per currency."""
    return await reports.settlement_due(runtime, merchant_of(request))


@post(
    "/seller/settlements",
    guards=[MERCHANT],
    status_code=201,
    tags=["seller"],
    opt=documented(Conflict, idempotency_key="optional"),
)
async def settle(request: Request, runtime: Runtime) -> Response[SettlementView]:
    """Settle exactly what is due now (409 `nothing-to-settle` when nothing is)."""
    settled = await reports.settle(
        runtime,
        principal_of(request),
        merchant_of(request),
        request={},
        key=idempotency_key(request, required=False),
    )
    return Response(settled, status_code=201)


@get("/seller/settlements", guards=[MERCHANT], tags=["seller"])
async def list_settlements(
    request: Request, runtime: Runtime, limit: Limit = 50, cursor: Cursor = None
) -> SettlementPage:
    """The merchant's settlements, newest first."""
    return await reports.settlements_page(runtime, merchant_of(request), limit=limit, cursor=cursor)
