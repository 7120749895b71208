"""A merchant's stores and their clerks in the seller back office."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, delete, get, patch, post
from litestar.params import Parameter

from libs.errors import Forbidden, Invalid
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from libs.web import documented, principal_of, requires
from services.local_life.use_cases import stores
from services.local_life.views import ClerkList, ClerkView, StorePage, StoreView

MERCHANT = requires("merchant")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90, description="degrees north")]
Lng = Annotated[float, msgspec.Meta(ge=-180, le=180, description="degrees east")]
Phone = Annotated[str, msgspec.Meta(max_length=40)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="IANA name, e.g. Asia/Shanghai")]
HhMm = Annotated[str, msgspec.Meta(pattern=r"^\d\d:\d\d$", description="HH:MM, 00:00 to 24:00")]
Range = Annotated[list[HhMm], msgspec.Meta(min_length=2, max_length=2)]
OpeningHours = Annotated[
    dict[int, Annotated[list[Range], msgspec.Meta(max_length=8)]],
    msgspec.Meta(max_length=7, description='weekday (0 = Monday .. 6) -> [["HH:MM", "HH:MM"], ...]; absent = closed'),
]
StoreStatus = Literal["open", "closed"]
ClerkId = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="the `sub` of the clerk's token")]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=400, description="`next_cursor` of the previous page")]


class NewStore(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    address: Address
    lat: Lat
    lng: Lng
    phone: Phone = ""
    timezone: TimeZone = "UTC"
    opening_hours: OpeningHours = {}
    status: StoreStatus = "open"


class StoreChanges(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Fields to change; absent ones stay."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    address: Address | msgspec.UnsetType = msgspec.UNSET
    lat: Lat | msgspec.UnsetType = msgspec.UNSET
    lng: Lng | msgspec.UnsetType = msgspec.UNSET
    phone: Phone | msgspec.UnsetType = msgspec.UNSET
    timezone: TimeZone | msgspec.UnsetType = msgspec.UNSET
    opening_hours: OpeningHours | msgspec.UnsetType = msgspec.UNSET
    status: StoreStatus | msgspec.UnsetType = msgspec.UNSET


class NewClerk(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    clerk_id: ClerkId
    name: Name


def merchant_of(request: Request) -> str:
    """The merchant the caller's token acts for, tagged on the span."""
    merchant_id = canonical_uuid(principal_of(request).merchant_id)
    if merchant_id is None:
        raise Forbidden("this merchant token names no merchant_id of ours")
    tag({names.MERCHANT_ID: merchant_id})
    return merchant_id


@post("/seller/stores", guards=[MERCHANT], status_code=201, tags=["seller"], opt=documented(Invalid))
async def create_store(request: Request, data: NewStore, runtime: Runtime) -> Response[StoreView]:
    """Open a store: where buyers use the merchant's deals and clerks redeem them."""
    created = await stores.create_store(runtime, merchant_of(request), msgspec.structs.asdict(data))
    return Response(created, status_code=201)


@get("/seller/stores", guards=[MERCHANT], tags=["seller"])
async def list_stores(request: Request, runtime: Runtime, limit: Limit = 50, cursor: Cursor = None) -> StorePage:
    """The merchant's stores, newest first."""
    return await stores.stores_page(runtime, merchant_of(request), limit=limit, cursor=cursor)


@get("/seller/stores/{store_id:str}", guards=[MERCHANT], tags=["seller"])
async def get_store(request: Request, store_id: str, runtime: Runtime) -> StoreView:
    """One of the merchant's stores (another merchant's is 404)."""
    return await stores.store_of(runtime, merchant_of(request), store_id)


@patch("/seller/stores/{store_id:str}", guards=[MERCHANT], tags=["seller"], opt=documented(Invalid))
async def edit_store(request: Request, store_id: str, data: StoreChanges, runtime: Runtime) -> StoreView:
    """Change a store's details, or close and reopen it (a closed store is not offered to buyers)."""
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
    return await stores.change_store(runtime, merchant_of(request), store_id, changes)


@post("/seller/stores/{store_id:str}/clerks", guards=[MERCHANT], status_code=201, tags=["seller"])
async def add_clerk(request: Request, store_id: str, data: NewClerk, runtime: Runtime) -> Response[ClerkView]:
    """A clerk at the store, named by their token's `sub` (a removed clerk comes back)."""
    added = await stores.add_clerk(runtime, merchant_of(request), store_id, clerk_id=data.clerk_id, name=data.name)
    return Response(added, status_code=201)


@get("/seller/stores/{store_id:str}/clerks", guards=[MERCHANT], tags=["seller"])
async def list_clerks(request: Request, store_id: str, runtime: Runtime) -> ClerkList:
    """The store's clerks, active ones first."""
    return await stores.clerks_of(runtime, merchant_of(request), store_id)


@delete("/seller/stores/{store_id:str}/clerks/{clerk_id:str}", guards=[MERCHANT], tags=["seller"])
async def remove_clerk(request: Request, store_id: str, clerk_id: str, runtime: Runtime) -> None:
    """The clerk no longer works at the store: their token redeems nothing there."""
    await stores.remove_clerk(runtime, merchant_of(request), store_id, clerk_id)
