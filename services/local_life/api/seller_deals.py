"""A merchant's deals in the seller back office: draft (Idempotency-Key honoured), change, publish, end."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, get, patch, post
from litestar.params import Parameter

from libs.errors import Conflict, Invalid
from libs.runtime import Runtime
from libs.web import documented, idempotency_key, principal_of, requires
from services.local_life.api.seller_stores import Cursor, Limit, merchant_of
from services.local_life.domain import DealTerms
from services.local_life.use_cases import deals
from services.local_life.views import DealPage, DealView

MERCHANT = requires("merchant")

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=5000)]
# Bounded so a typo cannot overflow the bigint columns.
Money = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000_000)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217, upper case")]
Vouchers = Annotated[int, msgspec.Meta(ge=1, le=50, description="vouchers per purchase (a 3-visit card is 3)")]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]
ValidDays = Annotated[int, msgspec.Meta(ge=1, le=3650, description="days a voucher stays valid after purchase")]
Weekdays = Annotated[
    list[Annotated[int, msgspec.Meta(ge=0, le=6)]], msgspec.Meta(min_length=1, max_length=7, description="0 = Monday")
]
HhMm = Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d$", description="HH:MM, 00:00 to 24:00")]
Hours = Annotated[list[HhMm], msgspec.Meta(min_length=2, max_length=2, description='["HH:MM", "HH:MM"], store-local')]
Count = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
TeamSize = Annotated[int, msgspec.Meta(ge=2, le=100)]
TeamWindow = Annotated[int, msgspec.Meta(ge=60, le=30 * 86400)]
StoreIds = Annotated[list[uuid.UUID], msgspec.Meta(max_length=200)]
DealStatus = Annotated[
    Literal["draft", "published", "ended"] | None, Parameter(description="only deals in this status")
]


class NewDeal(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title
    price_minor: Money
    original_value_minor: Money
    currency: Currency
    description: Description = ""
    vouchers_per_purchase: Vouchers = 1
    valid_from: UtcTime | None = None
    valid_until: UtcTime | None = None
    valid_days: ValidDays | None = None
    usage_weekdays: Weekdays = msgspec.field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    usage_hours: Hours | None = None
    per_visit_limit: Count | None = None
    total_quantity: Quantity | None = None
    per_buyer_limit: Count | None = None
    auto_refund_at_expiry: bool = True
    team_size: TeamSize | None = None
    team_window_s: TeamWindow = 86400
    all_stores: bool = False
    store_ids: StoreIds = []


class DealChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change while a draft; absent ones stay, `null` clears an optional one."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    price_minor: Money | msgspec.UnsetType = msgspec.UNSET
    original_value_minor: Money | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    vouchers_per_purchase: Vouchers | msgspec.UnsetType = msgspec.UNSET
    valid_from: UtcTime | msgspec.UnsetType | None = msgspec.UNSET
    valid_until: UtcTime | msgspec.UnsetType | None = msgspec.UNSET
    valid_days: ValidDays | msgspec.UnsetType | None = msgspec.UNSET
    usage_weekdays: Weekdays | msgspec.UnsetType = msgspec.UNSET
    usage_hours: Hours | msgspec.UnsetType | None = msgspec.UNSET
    per_visit_limit: Count | msgspec.UnsetType | None = msgspec.UNSET
    total_quantity: Quantity | msgspec.UnsetType | None = msgspec.UNSET
    per_buyer_limit: Count | msgspec.UnsetType | None = msgspec.UNSET
    auto_refund_at_expiry: bool | msgspec.UnsetType = msgspec.UNSET
    team_size: TeamSize | msgspec.UnsetType | None = msgspec.UNSET
    team_window_s: TeamWindow | msgspec.UnsetType = msgspec.UNSET
    all_stores: bool | msgspec.UnsetType = msgspec.UNSET
    store_ids: StoreIds | msgspec.UnsetType = msgspec.UNSET


@post(
    "/seller/deals",
    guards=[MERCHANT],
    status_code=201,
    tags=["seller"],
    opt=documented(Invalid, idempotency_key="optional"),
)
async def create_deal(request: Request, data: NewDeal, runtime: Runtime) -> Response[DealView]:
    """Draft a deal: what a voucher is worth, when and where it can be used."""
    fields = msgspec.structs.asdict(data)
    store_ids = [str(s) for s in fields.pop("store_ids")]
    created = await deals.create_deal(
        runtime,
        principal_of(request),
        merchant_of(request),
        terms=DealTerms(**fields),
        store_ids=store_ids,
        request=data,
        key=idempotency_key(request, required=False),
    )
    return Response(created, status_code=201)


@get("/seller/deals", guards=[MERCHANT], tags=["seller"])
async def list_deals(
    request: Request, runtime: Runtime, status: DealStatus = None, limit: Limit = 50, cursor: Cursor = None
) -> DealPage:
    """The merchant's deals, newest first."""
    return await deals.deals_page(runtime, merchant_of(request), status=status, limit=limit, cursor=cursor)


@get("/seller/deals/{deal_id:str}", guards=[MERCHANT], tags=["seller"])
async def get_deal(request: Request, deal_id: str, runtime: Runtime) -> DealView:
    """One of the merchant's deals, in any status (another merchant's is 404)."""
    return await deals.deal_of(runtime, merchant_of(request), deal_id)


@patch("/seller/deals/{deal_id:str}", guards=[MERCHANT], tags=["seller"], opt=documented(Conflict, Invalid))
async def edit_deal(request: Request, deal_id: str, data: DealChanges, runtime: Runtime) -> DealView:
    """Change a draft (409 `deal-not-draft` once published: a published deal's terms do not change)."""
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    if "store_ids" in changes:
        changes["store_ids"] = [str(s) for s in changes["store_ids"]]
    return await deals.change_deal(runtime, merchant_of(request), deal_id, changes)


@post(
    "/seller/deals/{deal_id:str}/publish",
    guards=[MERCHANT],
    status_code=200,
    tags=["seller"],
    opt=documented(Conflict, Invalid),
)
async def publish_deal(request: Request, deal_id: str, runtime: Runtime) -> DealView:
    """On sale: needs at least one open store it is sold for (422 `deal-has-no-store`); again → the same deal."""
    return await deals.publish_deal(runtime, merchant_of(request), deal_id)


@post("/seller/deals/{deal_id:str}/end", guards=[MERCHANT], status_code=200, tags=["seller"])
async def end_deal(request: Request, deal_id: str, runtime: Runtime) -> DealView:
    """Off sale for good (vouchers sold stay good); again → the same deal."""
    return await deals.end_deal(runtime, merchant_of(request), deal_id)
