"""What the funnel's API answers with: figures per scope with a per-minute series, a room's review."""

from __future__ import annotations

from datetime import datetime

import msgspec


class TapsAccepted(msgspec.Struct, kw_only=True):
    """A batch of client events taken: how many facts it made (repeats inside the batch count once)."""

    accepted: int


class Money(msgspec.Struct, kw_only=True):
    """One currency's takings in a scope; `gpm_minor` and `uv_value_minor` are null without views or viewers."""

    currency: str
    gross_paid_minor: int
    refunded_minor: int
    net_minor: int
    gpm_minor: int | None
    uv_value_minor: int | None


class Conversion(msgspec.Struct, kw_only=True):
    """Each step over the one before it (a decimal, null when the one before is 0)."""

    view_to_click: float | None
    click_to_cart: float | None
    cart_to_order: float | None
    order_to_paid: float | None


class SaleFigures(msgspec.Struct, kw_only=True):
    """A flash sale's units: admitted (an expired admission's units were admitted too), paid, expired."""

    quantity: int
    admitted_units: int
    paid_units: int
    expired_units: int
    sell_through: float | None
    pay_rate: float | None


class MinutePoint(msgspec.Struct, kw_only=True):
    """One minute of a scope's funnel, for charts (minutes where nothing happened are left out)."""

    minute: datetime
    views: int
    watch_s: float
    impressions: int
    clicks: int
    carts: int
    orders: int
    paid_orders: int
    gross_paid_minor: dict[str, int]
    refunded_minor: dict[str, int]


class FunnelFigures(msgspec.Struct, kw_only=True):
    """A scope's funnel (docs/ARCHITECTURE.md, "Figures"): totals over all time, and `series` between `from`/`to`."""

    scope: str
    scope_id: str
    views: int
    unique_viewers: int
    average_watch_s: float | None
    impressions: int
    clicks: int
    unique_clickers: int
    click_through_rate: float | None
    carts: int
    orders: int
    paid_orders: int
    buyers: int
    refunds: int
    money: list[Money]
    conversion: Conversion
    coupons_claimed: int
    coupons_used: int
    vouchers_paid: int
    vouchers_redeemed: int
    voucher_redemption_rate: float | None
    series_from: datetime | None
    series_to: datetime | None
    series: list[MinutePoint]
    # Only for a flash sale's funnel.
    sale: SaleFigures | None = None


class TopProduct(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A product or deal sold in the room: paid amount and units (refunds not taken off)."""

    title: str | None
    currency: str
    gross_paid_minor: int
    units: int
    paid_orders: int
    product_id: str | None = None
    deal_id: str | None = None


class BestMinute(msgspec.Struct, kw_only=True):
    """The minute with the most paid (all currencies added; ties: the earliest)."""

    minute: datetime
    gross_paid_minor: dict[str, int]
    paid_orders: int


class SaleRow(msgspec.Struct, kw_only=True):
    """One flash sale of the room in its review."""

    sale_id: str
    title: str
    sku_name: str
    starts_at: datetime
    currency: str
    quantity: int
    admitted_units: int
    paid_units: int
    expired_units: int
    sell_through: float | None
    pay_rate: float | None
    gross_paid_minor: int


class RoomReview(msgspec.Struct, kw_only=True):
    """An ended room's review: its funnel, what sold best, its best minute, each flash sale."""

    room_id: str
    title: str
    funnel: FunnelFigures
    top_products: list[TopProduct]
    best_minute: BestMinute | None
    sales: list[SaleRow]
