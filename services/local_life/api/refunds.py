"""A buyer's refund of unused vouchers (随时退: any time before use), and the refund's state."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, get, post

from libs.errors import Conflict, Invalid, NotFound
from libs.runtime import Runtime
from libs.web import documented, idempotency_key, principal_of, requires
from services.local_life.use_cases import refunds
from services.local_life.views import VoucherRefundView

BUYER = requires("buyer")
VoucherId = Annotated[str, msgspec.Meta(max_length=64)]


class RefundVouchers(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Unused vouchers of one order and one deal (a multi-visit card: every voucher of the purchase)."""

    voucher_ids: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(min_length=1, max_length=100)
    ]


@post(
    "/vouchers/refund",
    guards=[BUYER],
    status_code=202,
    tags=["vouchers"],
    opt=documented(NotFound, Conflict, Invalid, idempotency_key="optional"),
)
async def refund_vouchers(data: RefundVouchers, request: Request, runtime: Runtime) -> Response[VoucherRefundView]:
    """Refund unused vouchers: 202 with the refund `pending` (orders gives the money back; GET it to follow).
    404 `voucher-not-found`; 409 `voucher-not-refundable` (`reason`); 422 `vouchers-of-several-orders`,
    `vouchers-of-several-deals`, `partial-card`, `duplicate-voucher`."""
    refund = await refunds.request_refund(
        runtime,
        principal_of(request),
        voucher_ids=data.voucher_ids,
        request=data,
        key=idempotency_key(request, required=False),
    )
    return Response(refund, status_code=202)


@get("/vouchers/refunds/{refund_id:str}", guards=[BUYER], tags=["vouchers"], opt=documented(NotFound))
async def get_refund(refund_id: str, request: Request, runtime: Runtime) -> VoucherRefundView:
    """One of the buyer's refunds (anyone else's is 404)."""
    return await refunds.refund_of(runtime, principal_of(request), refund_id)
