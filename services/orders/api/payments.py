"""Payments: the buyer confirms with a payment method; the orders are paid when Stripe's webhook says so."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, post

from libs.errors import Conflict, PaymentFailed, Unavailable
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from services.orders.use_cases import payments
from services.orders.views import ConfirmView


class ConfirmRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    payment_method: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


@post(
    "/payments/{payment_id:str}/confirm",
    guards=[requires("buyer")],
    status_code=202,
    tags=["payments"],
    opt=documented(PaymentFailed, Conflict, Unavailable),
)
async def confirm_payment(request: Request, payment_id: str, data: ConfirmRequest, runtime: Runtime) -> ConfirmView:
    """Pay with a payment method; the orders become paid when Stripe's webhook confirms it."""
    buyer_id = principal_of(request).sub
    return await payments.confirm_payment(
        runtime, buyer_id=buyer_id, payment_id=payment_id, payment_method=data.payment_method
    )
