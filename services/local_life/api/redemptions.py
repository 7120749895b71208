"""Redemption at the counter, by a clerk: prepare (scan a code or QR), verify (redeem the chosen vouchers), undo."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, get, post
from litestar.params import Parameter

from libs.errors import BadRequest, Conflict, Forbidden, Invalid, NotFound
from libs.runtime import Runtime
from libs.web import documented, principal_of, requires
from libs.web.throttle import Limits, take, too_many
from services.local_life.domain.vouchers import VoucherCodeTypo, VoucherNotFound
from services.local_life.use_cases import redemptions
from services.local_life.views import ClerkRedemptionPage, PreparedRedemption, RedemptionView, VerifyResult

# Failed lookups (an unknown or mistyped code, a QR we did not sign) take a token from the clerk's bucket; past the
# burst they answer 429. Guessing 100-bit codes is hopeless anyway: this keeps the logs and the database quiet.
LOOKUPS = Limits("voucher_lookup", lambda settings: (settings.voucher_lookup_rate_per_s, settings.voucher_lookup_burst))


Day = Annotated[
    str | None,
    Parameter(max_length=10, description="YYYY-MM-DD, a day of the store's time zone (default: its today)"),
]
Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]


class Prepare(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The code the buyer shows (any case, dashes and spaces as typed) or the QR payload scanned: one of them."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    qr: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class Verify(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    verify_token: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    voucher_ids: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(min_length=1, max_length=50)]


@post(
    "/redemptions/prepare",
    guards=[requires("clerk")],
    tags=["redemption"],
    status_code=200,
    opt=documented(Forbidden, NotFound, Conflict, Invalid, 429),
)
async def prepare_redemption(data: Prepare, request: Request, runtime: Runtime) -> PreparedRedemption:
    """What of the shown voucher's order line this store can redeem now, masked, and a verify token (60 s).
    404 `voucher-not-found` (unknown, or another merchant's), 409 `voucher-not-usable` with `reason`."""
    clerk = principal_of(request)
    try:
        return await redemptions.prepare(runtime, clerk, code=data.code, qr=data.qr)
    except (VoucherNotFound, VoucherCodeTypo):
        wait = take(runtime, LOOKUPS, clerk.sub)
        if wait > 0:
            raise too_many(wait) from None
        raise


@post(
    "/redemptions/verify",
    guards=[requires("clerk")],
    tags=["redemption"],
    status_code=200,
    opt=documented(Forbidden, NotFound, Conflict, Invalid),
)
async def verify_redemption(data: Verify, request: Request, runtime: Runtime) -> VerifyResult:
    """Redeem the chosen offered vouchers, each once (`already-redeemed` for one someone else used first); a retry
    with the same token answers the same, after expiry too."""
    return await redemptions.verify(
        runtime, principal_of(request), verify_token=data.verify_token, voucher_ids=data.voucher_ids
    )


@post(
    "/redemptions/{redemption_id:str}/undo",
    guards=[requires("clerk")],
    tags=["redemption"],
    status_code=200,
    opt=documented(Forbidden, NotFound, Conflict),
)
async def undo_redemption(redemption_id: str, request: Request, runtime: Runtime) -> RedemptionView:
    """Take back a redemption of this store within the undo window (1 h): the voucher is usable again."""
    return await redemptions.undo(runtime, principal_of(request), redemption_id)


@get(
    "/clerk/redemptions",
    guards=[requires("clerk")],
    tags=["redemption"],
    opt=documented(BadRequest, Forbidden, Invalid),
)
async def list_store_redemptions(
    request: Request, runtime: Runtime, day: Day = None, limit: Limit = 50, cursor: Cursor = None
) -> ClerkRedemptionPage:
    """The clerk's store's redemptions on one of its days, newest first (undone ones too), each with until when it
    may still be undone; 422 `invalid-day`. Only this store's: a clerk of another store sees none of them."""
    return await redemptions.store_day(runtime, principal_of(request), day=day, limit=limit, cursor=cursor)
