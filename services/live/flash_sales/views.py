"""What the flash-sales API answers with: sales, their report, and an admitted purchase."""

from __future__ import annotations

from datetime import datetime

import msgspec


class FlashSale(msgspec.Struct, kw_only=True):
    """A flash sale as anyone may see it."""

    sale_id: str
    room_id: str
    product_id: str
    sku_id: str
    title: str
    sku_name: str
    price_minor: int
    currency: str
    quantity: int
    remaining: int
    per_buyer_limit: int
    pay_within_s: int
    status: str
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None = None


class FlashSaleList(msgspec.Struct, kw_only=True):
    items: list[FlashSale]


class FlashSaleReport(msgspec.Struct, kw_only=True):
    """How a sale went, for the room's host and merchant: units per admission state."""

    sale: FlashSale
    admitted_units: int
    paid_units: int
    expired_units: int
    returned_units: int
    buyers: int
    end_reason: str | None


class Admitted(msgspec.Struct, kw_only=True):
    """The answer to an admitted purchase (a retry with the same key gets this same body)."""

    admission_id: str
    order_id: str
    sale_id: str
    quantity: int
    unit_price_minor: int
    currency: str
    pay_by: datetime
    status: str = "admitted"
