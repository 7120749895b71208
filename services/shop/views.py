"""What the shop's API answers with: plain Structs the store builds and the use cases return."""

from __future__ import annotations

from datetime import datetime

import msgspec


class MerchantView(msgspec.Struct, kw_only=True):
    merchant_id: str
    name: str
    currency: str
    created_at: datetime


class SkuView(msgspec.Struct, kw_only=True):
    sku_id: str
    name: str
    price_minor: int
    currency: str
    stock_on_hand: int
    stock_reserved: int
    stock_available: int


class ProductView(msgspec.Struct, kw_only=True):
    """A product as its merchant sees it, stock counts included."""

    product_id: str
    merchant_id: str
    title: str
    description: str
    status: str
    version: int
    skus: list[SkuView]
    created_at: datetime
    updated_at: datetime


class PublicSkuView(msgspec.Struct, kw_only=True):
    sku_id: str
    name: str
    price_minor: int
    currency: str
    stock_available: int


class PublicProductView(msgspec.Struct, kw_only=True):
    """A product as any buyer sees it: prices and what can still be bought."""

    product_id: str
    merchant_id: str
    title: str
    description: str
    status: str
    version: int
    skus: list[PublicSkuView]


class ProductList(msgspec.Struct, kw_only=True):
    items: list[ProductView]


class SkuChangeView(msgspec.Struct, kw_only=True):
    field: str
    old_value: int | None
    new_value: int
    changed_by: str
    changed_at: datetime
    # `edit` (the merchant's), `cancelled_after_payment` / `returned` (units back on hand), `exchange_taken` /
    # `exchange_released` (an after-sales replacement); `ref` names the cause: grant, case or exchange id.
    reason: str = "edit"
    ref: str | None = None


class SkuChanges(msgspec.Struct, kw_only=True):
    items: list[SkuChangeView]


class ShortfallView(msgspec.Struct, kw_only=True):
    """Units an order paid for that stock could not supply (an oversell to resolve)."""

    order_id: str
    checkout_id: str
    sku_id: str
    quantity: int
    created_at: datetime


class Shortfalls(msgspec.Struct, kw_only=True):
    items: list[ShortfallView]


class CartSource(msgspec.Struct, kw_only=True):
    type: str
    id: str
    # Live vouched for the room when the line was added (it exists and sells for the SKU's merchant); false when
    # live did not answer in time, and for sources nobody checks (video, search). Checkout asks again.
    verified: bool


class CartLineView(msgspec.Struct, kw_only=True):
    sku_id: str
    product_id: str
    title: str
    sku_name: str
    quantity: int
    unit_price_minor: int
    currency: str
    stock_available: int
    source: CartSource | None
    added_at: datetime


class CartView(msgspec.Struct, kw_only=True):
    items: list[CartLineView]


class FoundProduct(msgspec.Struct, kw_only=True):
    """A published product as search lists it: its price range over its SKUs and whether any can be bought."""

    product_id: str
    title: str
    merchant_id: str
    merchant_name: str
    currency: str
    min_price_minor: int
    max_price_minor: int
    # Some SKU has stock available (on hand less reserved) above zero.
    in_stock: bool
    created_at: datetime
    # How well the title matches q (pg_trgm: word similarity plus similarity; higher is better); null without q.
    score: float | None = None


class ProductSearchPage(msgspec.Struct, kw_only=True):
    items: list[FoundProduct]
    next_cursor: str | None = None
