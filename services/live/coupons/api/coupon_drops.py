"""HTTP API of coupon drops: hosts and merchants drop coupons in a live room, watching buyers claim them."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, Response, get, post
from litestar.params import Parameter

from libs.errors import Conflict
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from libs.web.throttle import Limits, throttled
from services.live.coupons import use_cases
from services.live.coupons.domain import NewCouponDrop
from services.live.coupons.views import Coupon, CouponDrop, CouponDropList, MyCoupons

# Claims have buckets of their own, with the purchase limits.
CLAIMS = Limits("coupon_claim", lambda settings: (settings.purchase_rate_per_s, settings.purchase_burst))
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]


@post(
    "/rooms/{room_id:str}/coupon-drops",
    guards=[requires("host", "merchant")],
    tags=["coupons"],
    status_code=201,
    opt=documented(Conflict, idempotency_key="optional"),
)
async def drop_coupons(room_id: str, data: NewCouponDrop, request: Request, runtime: Runtime) -> Response[CouponDrop]:
    """Drop coupons in a live room; the room's host or its merchant (Idempotency-Key honoured)."""
    key = idempotency_key(request, required=False)
    drop = await use_cases.drop_coupons(runtime, principal_of(request), room_id, data, key=key)
    return Response(drop, status_code=201)


@get("/rooms/{room_id:str}/coupon-drops", tags=["coupons"])
async def list_coupon_drops(room_id: str, runtime: Runtime) -> CouponDropList:
    """The room's open coupon drops with how many are claimed and left; public."""
    return await use_cases.list_drops(runtime, room_id)


@post(
    "/rooms/{room_id:str}/coupon-drops/{drop_id:str}/end",
    guards=[requires("host", "merchant")],
    tags=["coupons"],
    status_code=200,
)
async def end_coupon_drop(room_id: str, drop_id: str, request: Request, runtime: Runtime) -> CouponDrop:
    """Close a drop early: no more claims, claimed coupons stay good; the room's host or its merchant."""
    return await use_cases.end_drop(runtime, principal_of(request), room_id, drop_id)


@post(
    "/rooms/{room_id:str}/coupon-drops/{drop_id:str}/claim",
    # A burst from one caller sheds here before it queues on the drop's row lock.
    guards=[requires("buyer"), throttled(CLAIMS)],
    tags=["coupons"],
    status_code=201,
    opt=documented(Conflict, idempotency_key="optional"),
)
async def claim_coupon(room_id: str, drop_id: str, request: Request, runtime: Runtime) -> Response[Coupon]:
    """Claim one coupon of the drop while watching the room (Idempotency-Key honoured: a retry gets the same coupon)."""
    key = idempotency_key(request, required=False)
    coupon = await use_cases.claim(runtime, principal_of(request), room_id, drop_id, key=key)
    return Response(coupon, status_code=201)


@get("/coupons", guards=[requires("buyer")], tags=["coupons"])
async def my_coupons(request: Request, runtime: Runtime, limit: Limit = 50, cursor: Cursor = None) -> MyCoupons:
    """The coupons the buyer claimed in live rooms, newest first (orders knows which are used)."""
    return await use_cases.my_coupons(runtime, principal_of(request), limit=limit, cursor=cursor)
