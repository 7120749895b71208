"""Catalogue rules: a new product's SKUs, SKU edits, what buyers see of a product, and the product events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from libs.contracts import ProductPublished, ProductUpdated, SkuSnapshot
from services.shop.domain.refusals import CurrencyMismatch, DuplicateSkuName, StockBelowReserved
from services.shop.views import ProductView, PublicProductView, PublicSkuView


def check_new_skus(merchant_currency: str, skus: Sequence[tuple[str, str | None]]) -> None:
    """SKUs of a new product: unique names, priced in the merchant's currency (422 naming the SKU)."""
    seen: set[str] = set()
    for i, (name, currency) in enumerate(skus):
        if currency is not None and currency != merchant_currency:
            raise CurrencyMismatch(
                f"this merchant sells in {merchant_currency}; SKU {name!r} is priced in {currency}",
                field=f"skus[{i}].currency",
            )
        if name in seen:
            raise DuplicateSkuName(f"two SKUs are named {name!r}", field=f"skus[{i}].name")
        seen.add(name)


@dataclass(frozen=True)
class SkuEdit:
    """A change a merchant asked for on one field of a SKU."""

    field: str
    old_value: int
    new_value: int


def plan_sku_edit(
    *, price_minor: int, stock_on_hand: int, stock_reserved: int, new_price: int | None, new_on_hand: int | None
) -> list[SkuEdit]:
    """The edits that actually change something; stock may not drop below what buyers hold (409)."""
    edits: list[SkuEdit] = []
    if new_price is not None and new_price != price_minor:
        edits.append(SkuEdit("price_minor", price_minor, new_price))
    if new_on_hand is not None and new_on_hand != stock_on_hand:
        if new_on_hand < stock_reserved:
            raise StockBelowReserved(
                f"{stock_reserved} units are reserved by buyers; stock on hand cannot go below that",
                field="stock_on_hand",
                stock_reserved=stock_reserved,
            )
        edits.append(SkuEdit("stock_on_hand", stock_on_hand, new_on_hand))
    return edits


def as_public(product: ProductView) -> PublicProductView:
    """The buyer-facing view of a product (no on-hand or reserved counts)."""
    return PublicProductView(
        product_id=product.product_id,
        merchant_id=product.merchant_id,
        title=product.title,
        description=product.description,
        status=product.status,
        version=product.version,
        skus=[
            PublicSkuView(
                sku_id=s.sku_id,
                name=s.name,
                price_minor=s.price_minor,
                currency=s.currency,
                stock_available=s.stock_available,
            )
            for s in product.skus
        ],
    )


def _snapshots(product: ProductView) -> list[SkuSnapshot]:
    return [
        SkuSnapshot(
            sku_id=s.sku_id,
            name=s.name,
            price_minor=s.price_minor,
            currency=s.currency,
            stock_available=s.stock_available,
        )
        for s in product.skus
    ]


def _state(product: ProductView) -> dict[str, object]:
    return {
        "product_id": product.product_id,
        "merchant_id": product.merchant_id,
        "title": product.title,
        "description": product.description,
        "version": product.version,
        "skus": _snapshots(product),
    }


def published(product: ProductView) -> ProductPublished:
    """The event announcing a new product, carrying all of it."""
    return ProductPublished(**_state(product))  # type: ignore[arg-type]


def updated(product: ProductView) -> ProductUpdated:
    """The event announcing a product's new state (full snapshot, newest version wins)."""
    return ProductUpdated(**_state(product))  # type: ignore[arg-type]
