"""A SKU's stock: how much one ask may take, its counts after a change and the event announcing them, and what
reservations and allocations need to know about it."""

from __future__ import annotations

from dataclasses import dataclass

from libs.contracts import StockChanged

# Above this a quantity is a typo or an attack, and it would overflow the int columns.
MAX_QUANTITY = 1_000_000


@dataclass(frozen=True)
class StockLevel:
    """A SKU's counts right after a change."""

    sku_id: str
    product_id: str
    merchant_id: str
    stock_on_hand: int
    stock_reserved: int


def stock_changed(level: StockLevel) -> StockChanged:
    """The event announcing a SKU's new stock counts."""
    return StockChanged(
        sku_id=level.sku_id,
        product_id=level.product_id,
        merchant_id=level.merchant_id,
        stock_on_hand=level.stock_on_hand,
        stock_reserved=level.stock_reserved,
        stock_available=level.stock_on_hand - level.stock_reserved,
    )


@dataclass(frozen=True)
class SkuFacts:
    """What a reservation needs to know about a SKU: who sells it, what it is called, its price."""

    sku_id: str
    product_id: str
    merchant_id: str
    title: str
    sku_name: str
    price_minor: int
    currency: str
    published: bool
