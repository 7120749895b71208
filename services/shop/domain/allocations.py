"""Flash-sale allocation rules: validating an allocate request, answering a repeat, merging an order's sale lines.

Refusals here are replies to live's request (`AllocationRefused`) or an event never to apply (`AllocationBroken`),
not HTTP answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from libs.contracts import AllocateStock, AllocateStockReply, OrderLine
from libs.ids import canonical_uuid, is_uuid
from services.shop.domain.stock import MAX_QUANTITY, SkuFacts


class AllocationRefused(Exception):
    """An allocation that cannot be made; carries the reply the caller gets."""

    def __init__(self, error: str, detail: str, available: int | None = None) -> None:
        super().__init__(detail)
        self.error = error
        self.detail = detail
        self.available = available

    def reply(self) -> AllocateStockReply:
        return AllocateStockReply(ok=False, error=self.error, detail=self.detail, available=self.available)


class AllocationBroken(Exception):
    """An event asks for allocation units that are not there: a bug upstream, never to be applied."""


def check_allocation(request: AllocateStock) -> tuple[str, str]:
    """Validate an allocation request; the canonical (SKU id, merchant id)."""
    if not request.allocation_id or len(request.allocation_id) > 200 or "\x00" in request.allocation_id:
        raise AllocationRefused("invalid_request", "allocation_id must be 1 to 200 characters, without NUL")
    if request.quantity < 1 or request.quantity > MAX_QUANTITY:
        raise AllocationRefused("invalid_quantity", f"quantity must be 1 to {MAX_QUANTITY}, got {request.quantity}")
    sku_id, merchant_id = canonical_uuid(request.sku_id), canonical_uuid(request.merchant_id)
    if sku_id is None or merchant_id is None:
        raise AllocationRefused("unknown_sku", f"merchant {request.merchant_id} has no SKU {request.sku_id!r}")
    return sku_id, merchant_id


@dataclass(frozen=True)
class StoredAllocation:
    """An allocation as stored: what it holds and how much of it has been sold or given back."""

    allocation_id: str
    sku_id: str
    merchant_id: str
    quantity: int
    committed: int
    released: int


def same_allocation(found: StoredAllocation, sku_id: str, merchant_id: str, quantity: int) -> bool:
    """Whether a repeated allocate asks for exactly what the stored one holds."""
    return (found.sku_id, found.merchant_id, found.quantity) == (sku_id, merchant_id, quantity)


def allocated_reply(facts: SkuFacts) -> AllocateStockReply:
    """The answer to an allocation that holds its units: what the sale sells."""
    return AllocateStockReply(
        ok=True,
        product_id=facts.product_id,
        title=facts.title,
        sku_name=facts.sku_name,
        price_minor=facts.price_minor,
        currency=facts.currency,
    )


@dataclass(frozen=True)
class SoldFromSale:
    """Units of one SKU a paid order bought in one flash sale (its lines of that sale merged)."""

    allocation_id: str
    sku_id: str
    quantity: int


def sold_from_sales(lines: Sequence[OrderLine]) -> list[SoldFromSale]:
    """An order's flash-sale lines merged per (sale, SKU), in a fixed order (sale, SKU) for the row locks.

    Lines naming no real SKU are dropped: there is nothing of ours they could take.
    """
    merged: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.flash_sale_id and is_uuid(line.sku_id) and line.quantity > 0:
            key = (line.flash_sale_id, str(uuid.UUID(line.sku_id)))
            merged[key] = merged.get(key, 0) + line.quantity
    return [SoldFromSale(sale, sku, quantity) for (sale, sku), quantity in sorted(merged.items())]
