"""What shop announces (its catalogue, its stock) and the requests it answers (stock for checkouts and sales).

Request subjects start with `rpc.` so no event stream captures them; request/reply is used only where a caller
needs an answer now.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec

from libs.contracts.base import Event


class SkuSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    name: str
    price_minor: int
    currency: str
    stock_available: int


class ProductState(Event, frozen=True, kw_only=True):
    """The whole of a product as shop publishes it, so readers never need to call back."""

    product_id: str
    merchant_id: str
    title: str
    description: str = ""
    version: int = 1
    skus: list[SkuSnapshot] = []


class ProductPublished(ProductState, frozen=True, kw_only=True):
    """A merchant published a product."""

    SUBJECT: ClassVar[str] = "shop.product.published.v1"


class ProductUpdated(ProductState, frozen=True, kw_only=True):
    """A product's details, prices or SKUs changed; newest `version` wins."""

    SUBJECT: ClassVar[str] = "shop.product.updated.v1"


class StockChanged(Event, frozen=True, kw_only=True):
    """Available stock of a SKU changed (reserve, commit, release, restock)."""

    SUBJECT: ClassVar[str] = "shop.sku.stock_changed.v1"
    sku_id: str
    product_id: str
    merchant_id: str
    stock_on_hand: int
    stock_reserved: int
    stock_available: int


class StockLine(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    quantity: int


class StockCommitted(Event, frozen=True, kw_only=True):
    """Reserved units of a paid order left the warehouse count for good."""

    SUBJECT: ClassVar[str] = "shop.stock.committed.v1"
    order_id: str
    checkout_id: str
    merchant_id: str
    lines: list[StockLine] = []


class CartItemAdded(Event, frozen=True, kw_only=True):
    """A buyer put units of a SKU in their cart (a new line, or more of one): the funnel's `cart` step.

    `source_type` / `source_id` are the line's source as the buyer's client named it (`room`, `video`, `search`) and
    `source_verified` whether live vouched for a room. `fact_key` is `<buyer>:<sku>:<added_at>`: one fact per put.
    """

    SUBJECT: ClassVar[str] = "shop.cart.item_added.v1"
    fact_key: str
    buyer_id: str
    sku_id: str
    product_id: str
    merchant_id: str
    quantity: int
    unit_price_minor: int
    currency: str
    source_type: str | None = None
    source_id: str | None = None
    source_verified: bool = False
    added_at: datetime


class StockReleased(Event, frozen=True, kw_only=True):
    """Reserved units went back to available stock (order cancelled or hold expired)."""

    SUBJECT: ClassVar[str] = "shop.stock.released.v1"
    checkout_id: str
    order_id: str | None = None
    reason: str
    lines: list[StockLine] = []


# --- requests shop answers ----------------------------------------------------------

RESERVE_STOCK = "rpc.shop.stock.reserve.v1"
ALLOCATE_STOCK = "rpc.shop.stock.allocate.v1"


class ReserveItem(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    quantity: int
    room_id: str | None = None
    video_id: str | None = None


class ReserveStock(msgspec.Struct, frozen=True, kw_only=True):
    """Hold stock for a checkout: all lines or none. Idempotent on `checkout_id`."""

    checkout_id: str
    buyer_id: str
    items: list[ReserveItem]
    hold_until: datetime
    # The caller stops waiting at this instant: past it, shop must not commit a hold nobody will use.
    answer_by: datetime | None = None


class ReservedLine(msgspec.Struct, frozen=True, kw_only=True):
    sku_id: str
    product_id: str
    merchant_id: str
    title: str
    sku_name: str
    quantity: int
    unit_price_minor: int
    currency: str
    room_id: str | None = None
    # A line with neither room nor video from the checkout gets the cart line's source (room or video).
    video_id: str | None = None


class ReserveStockReply(msgspec.Struct, frozen=True, kw_only=True):
    """`ok` with priced lines, or an error code.

    Codes: `unknown_sku`, `invalid_quantity`, `insufficient_stock`, `mixed_currency` (with `item_index`),
    `invalid_request`, `checkout_conflict`, `expired` (the checkout's hold lapsed or was released: a
    retry cannot revive it), `too_late` (`answer_by` passed before the hold was written: nothing held),
    `unavailable`.
    """

    ok: bool
    lines: list[ReservedLine] = []
    error: str | None = None
    detail: str | None = None
    # Index into the request's items of the line that failed, to name the field.
    item_index: int | None = None


class AllocateStock(msgspec.Struct, frozen=True, kw_only=True):
    """Move `quantity` units of a SKU out of available stock into a flash sale. Idempotent on `allocation_id`.

    The units stay counted in shop's `stock_reserved` until orders' `OrderPaid` commits them one line at a
    time (lines carry `flash_sale_id` = `allocation_id`) or live's `FlashSaleUnitsReturned` gives them back.
    """

    allocation_id: str
    merchant_id: str
    sku_id: str
    quantity: int
    answer_by: datetime | None = None


class AllocateStockReply(msgspec.Struct, frozen=True, kw_only=True):
    """`ok` with the SKU's facts, or an error code.

    Codes: `unknown_sku` (no such SKU, or not this merchant's), `invalid_quantity`, `insufficient_stock`
    (`available` says how many there are), `allocation_conflict` (the id was used for another SKU or
    quantity), `too_late`, `invalid_request`.
    """

    ok: bool
    error: str | None = None
    detail: str | None = None
    available: int | None = None
    product_id: str | None = None
    title: str | None = None
    sku_name: str | None = None
    price_minor: int | None = None
    currency: str | None = None


EXCHANGE_STOCK = "rpc.shop.stock.exchange.v1"


class ExchangeStock(msgspec.Struct, frozen=True, kw_only=True):
    """Take (or check, or give back) replacement units for an after-sales exchange. Idempotent on `exchange_id`.

    `action`: `check` (is `sku_id` a SKU of `product_id` of this merchant, with `quantity` available? nothing
    changes), `take` (on hand -= quantity, once per exchange id) or `release` (a taken exchange's units go back,
    once).
    """

    exchange_id: str
    merchant_id: str
    product_id: str
    sku_id: str
    quantity: int
    action: str
    answer_by: datetime | None = None


class ExchangeStockReply(msgspec.Struct, frozen=True, kw_only=True):
    """`ok`, or an error code: `unknown_sku` (no such SKU of this merchant), `not_same_product`,
    `insufficient_stock` (`available` says how many), `exchange_conflict` (the id was used for another SKU or
    quantity), `too_late`, `invalid_request`."""

    ok: bool
    error: str | None = None
    detail: str | None = None
    available: int | None = None


__all__ = [
    "ALLOCATE_STOCK",
    "AllocateStock",
    "AllocateStockReply",
    "CartItemAdded",
    "EXCHANGE_STOCK",
    "ExchangeStock",
    "ExchangeStockReply",
    "ProductPublished",
    "ProductState",
    "ProductUpdated",
    "RESERVE_STOCK",
    "ReserveItem",
    "ReserveStock",
    "ReserveStockReply",
    "ReservedLine",
    "SkuSnapshot",
    "StockChanged",
    "StockCommitted",
    "StockLine",
    "StockReleased",
]
