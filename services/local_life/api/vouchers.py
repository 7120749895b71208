"""A buyer's vouchers: the code to show at the counter, its QR payload, state and redemptions."""

from __future__ import annotations

from typing import Annotated

from litestar import Request, get
from litestar.params import Parameter

from libs.errors import BadRequest, NotFound
from libs.runtime import Runtime
from libs.web import documented, principal_of, requires
from services.local_life.use_cases import vouchers
from services.local_life.views import VoucherPage, VoucherView

Limit = Annotated[int, Parameter(ge=1, le=100, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=200, description="`next_cursor` of the previous page")]


@get("/vouchers", guards=[requires("buyer")], tags=["vouchers"], opt=documented(BadRequest))
async def list_vouchers(request: Request, runtime: Runtime, limit: Limit = 20, cursor: Cursor = None) -> VoucherPage:
    """The buyer's vouchers, newest first, each with its code and QR payload."""
    return await vouchers.my_vouchers(runtime, principal_of(request), limit=limit, cursor=cursor)


@get("/vouchers/{voucher_id:str}", guards=[requires("buyer")], tags=["vouchers"], opt=documented(NotFound))
async def get_voucher(voucher_id: str, request: Request, runtime: Runtime) -> VoucherView:
    """One of the buyer's vouchers (anyone else's is 404)."""
    return await vouchers.my_voucher(runtime, principal_of(request), voucher_id)
