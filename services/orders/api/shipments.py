"""Shipments: the merchant ships units of its paid orders and says when they arrived; buyer and merchant read them."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, get, post

from libs.errors import Conflict, Invalid
from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.idempotency import idempotency_key
from libs.web.openapi import documented
from services.orders.use_cases import fulfilment
from services.orders.views import ShipmentList, ShipmentView


class ShipmentLine(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Units of one order line in the parcel (`line_no` as the order's lines show it)."""

    line_no: Annotated[int, msgspec.Meta(ge=0, le=10_000)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class ShipmentRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    carrier: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    tracking_number: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    # Omitted: everything left to ship.
    lines: Annotated[list[ShipmentLine], msgspec.Meta(min_length=1, max_length=100)] | None = None


@post(
    "/seller/orders/{order_id:str}/shipments",
    guards=[requires("merchant")],
    status_code=201,
    tags=["seller"],
    opt=documented(Conflict, Invalid, idempotency_key="optional"),
)
async def ship(request: Request, order_id: str, data: ShipmentRequest, runtime: Runtime) -> ShipmentView:
    """Ship units of the merchant's own paid order (no `lines`: all left to ship); 409 `order-not-shippable`
    (with `order_status`), `tracking-number-used`; 422 `quantity-exceeds-unshipped` naming `lines[i].quantity`."""
    lines = None if data.lines is None else [(line.line_no, line.quantity) for line in data.lines]
    return await fulfilment.ship_order(
        runtime,
        principal_of(request),
        order_id=order_id,
        carrier=data.carrier,
        tracking_number=data.tracking_number,
        lines=lines,
        request=data,
        key=idempotency_key(request, required=False),
    )


@get("/seller/orders/{order_id:str}/shipments", guards=[requires("merchant")], tags=["seller"])
async def list_seller_shipments(request: Request, order_id: str, runtime: Runtime) -> ShipmentList:
    """The shipments of the merchant's own order, oldest first."""
    merchant_id = principal_of(request).merchant_id or ""
    return await fulfilment.shipments_of(runtime, order_id=order_id, merchant_id=merchant_id)


@get("/orders/{order_id:str}/shipments", guards=[requires("buyer")], tags=["orders"])
async def list_shipments(request: Request, order_id: str, runtime: Runtime) -> ShipmentList:
    """The shipments of the buyer's own order, oldest first."""
    return await fulfilment.shipments_of(runtime, order_id=order_id, buyer_id=principal_of(request).sub)


@post(
    "/seller/orders/{order_id:str}/shipments/{shipment_id:str}/delivered",
    guards=[requires("merchant")],
    status_code=200,
    tags=["seller"],
)
async def mark_delivered(request: Request, order_id: str, shipment_id: str, runtime: Runtime) -> ShipmentView:
    """The merchant says this shipment arrived (again: the same answer); the order is delivered once every shipment
    is and nothing is left to ship."""
    merchant_id = principal_of(request).merchant_id or ""
    return await fulfilment.mark_delivered(runtime, merchant_id=merchant_id, order_id=order_id, shipment_id=shipment_id)
