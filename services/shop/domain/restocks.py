"""Putting units back on hand: which units of a cancellation after payment or of a return go back, and how many.

A flash-sale unit goes back to shop's stock, never to its sale: the sale's buyers were promised its quantity and
its ledger counted the unit sold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from libs.contracts import CancelledLine, ReturnedLine
from libs.ids import canonical_uuid
from services.shop.domain.stock import MAX_QUANTITY

CANCELLED = "cancelled_after_payment"
RETURNED = "returned"


@dataclass(frozen=True)
class Restock:
    """Units of one order line coming back: `quantity` of them, of which `restock` go back on hand."""

    line_no: int
    sku_id: str
    quantity: int
    restock: int


def _in_lock_order(lines: list[Restock]) -> list[Restock]:
    # By SKU, as reservations take their row locks: a restock and a checkout sharing SKUs never deadlock.
    return sorted(lines, key=lambda r: (r.sku_id, r.line_no))


def cancelled_units(lines: Sequence[CancelledLine]) -> tuple[list[Restock], list[CancelledLine]]:
    """Each cancelled line's units back on hand; and the lines naming nothing of ours (no SKU, no units)."""
    found: list[Restock] = []
    dropped: list[CancelledLine] = []
    for line in lines:
        sku_id = canonical_uuid(line.sku_id)
        if sku_id is None or not 0 < line.quantity <= MAX_QUANTITY:
            dropped.append(line)
            continue
        found.append(Restock(line.line_no, sku_id, line.quantity, line.quantity))
    return _in_lock_order(found), dropped


def returned_units(lines: Sequence[ReturnedLine]) -> tuple[list[Restock], list[ReturnedLine]]:
    """Each returned line's restockable units back on hand (the damaged rest stays off); and the lines naming
    nothing of ours. `restockable` is held within 0 and the units returned."""
    found: list[Restock] = []
    dropped: list[ReturnedLine] = []
    for line in lines:
        sku_id = canonical_uuid(line.sku_id)
        if sku_id is None or not 0 < line.quantity <= MAX_QUANTITY:
            dropped.append(line)
            continue
        found.append(Restock(line.line_no, sku_id, line.quantity, max(0, min(line.restockable, line.quantity))))
    return _in_lock_order(found), dropped


def less_shortfalls(lines: Sequence[Restock], shortfalls: Mapping[str, int]) -> list[Restock]:
    """Units the paid order never took from stock (a recorded shortfall: the hold had lapsed and the units were sold
    again) do not come back: putting them back would make units out of nothing. Each SKU's shortfall is used up
    across the order's lines of that SKU."""
    left = dict(shortfalls)
    out: list[Restock] = []
    for line in lines:
        short = min(left.get(line.sku_id, 0), line.restock)
        if short:
            left[line.sku_id] -= short
        out.append(Restock(line.line_no, line.sku_id, line.quantity, line.restock - short))
    return out
