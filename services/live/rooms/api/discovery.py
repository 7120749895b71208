"""HTTP API of discovery: rooms live now and scheduled, rooms of hosts I follow; host pages; follows; a merchant's
own rooms."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Request, Response, delete, get, put
from litestar.params import Parameter

from libs.auth import Principal
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.live.rooms.domain.discovery import (
    CannotFollowSelf,
    FollowingNeedsBuyer,
    InvalidCursor,
    MerchantNotFound,
    NotYourMerchantsRooms,
)
from services.live.rooms.use_cases import discovery, follows
from services.live.rooms.views import FollowingPage, HostPage, MerchantRoomPage, RoomPage

BUYER = requires("buyer")
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]
Status = Annotated[Literal["live", "scheduled"], Parameter(description="live now (by viewers) or scheduled (by start)")]
Following = Annotated[bool, Parameter(description="only rooms of hosts the caller follows (needs a buyer token)")]
MerchantStatus = Annotated[
    Literal["live", "scheduled", "ended"],
    Parameter(
        description="live (newest session first), scheduled (soonest first, unannounced last) or ended (newest end "
        "first)"
    ),
]
HostId = Annotated[str, Parameter(min_length=1, max_length=200, description="the `sub` of the host's token")]


def _caller(request: Request) -> Principal | None:
    """The caller on a public route, if a valid token came with it."""
    user = request.scope.get("user")
    return user if isinstance(user, Principal) else None


@get("/rooms", tags=["discovery"], opt=documented(InvalidCursor, FollowingNeedsBuyer))
async def list_rooms(
    request: Request,
    runtime: Runtime,
    status: Status = "live",
    following: Following = False,
    limit: Limit = 20,
    cursor: Cursor = None,
) -> RoomPage:
    """Rooms live now (most viewers first) or scheduled (soonest first); public, `following=true` with a buyer token."""
    caller = _caller(request)
    return await discovery.list_rooms(runtime, caller, status=status, following=following, limit=limit, cursor=cursor)


@get("/hosts/{host_id:str}", tags=["discovery"])
async def get_host(host_id: HostId, request: Request, runtime: Runtime) -> HostPage:
    """A host's page: fans, rooms (live, scheduled, recently ended) and whether the caller follows; public."""
    return await discovery.host_page(runtime, host_id, _caller(request))


@put(
    "/hosts/{host_id:str}/follow", guards=[BUYER], tags=["discovery"], status_code=204, opt=documented(CannotFollowSelf)
)
async def follow_host(host_id: HostId, request: Request, runtime: Runtime) -> Response[None]:
    """Follow the host (again: the same, one fan per buyer)."""
    await follows.follow_host(runtime, principal_of(request), host_id)
    return Response(None, status_code=204)


@delete("/hosts/{host_id:str}/follow", guards=[BUYER], tags=["discovery"], status_code=204)
async def unfollow_host(host_id: HostId, request: Request, runtime: Runtime) -> None:
    """Stop following the host (also when not following)."""
    await follows.unfollow_host(runtime, principal_of(request), host_id)


@get("/me/following", guards=[BUYER], tags=["discovery"], opt=documented(InvalidCursor))
async def my_following(request: Request, runtime: Runtime, limit: Limit = 20, cursor: Cursor = None) -> FollowingPage:
    """The hosts the buyer follows, newest follow first."""
    return await follows.my_following(runtime, principal_of(request), limit=limit, cursor=cursor)


@get(
    "/merchants/{merchant_id:str}/rooms",
    guards=[requires("merchant", "host")],
    tags=["discovery"],
    opt=documented(InvalidCursor, MerchantNotFound, NotYourMerchantsRooms),
)
async def merchant_rooms(
    merchant_id: str,
    request: Request,
    runtime: Runtime,
    status: MerchantStatus = "live",
    limit: Limit = 20,
    cursor: Cursor = None,
) -> MerchantRoomPage:
    """The merchant's rooms of one status, with their last session and viewers now; the merchant and its hosts."""
    caller = principal_of(request)
    return await discovery.merchant_rooms(runtime, caller, merchant_id, status=status, limit=limit, cursor=cursor)
