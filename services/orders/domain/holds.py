"""How much one buyer may hold unpaid (OWASP API6): checkouts awaiting payment, and units of one SKU across them.

Flash-sale orders are not counted and not capped here: they come from live's admissions, which have their own
per-buyer limit, and their stock sits in the sale's allocation, not in a reservation of the buyer's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from libs.contracts import ReserveItem
from libs.errors import Conflict


class UnpaidCheckoutsCap(Conflict):
    code = "unpaid-checkouts-cap"

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"you already have {limit} checkouts awaiting payment, the most a buyer may hold: pay or cancel one first",
            field="items",
            limit=limit,
        )


class UnitsHeldCap(Conflict):
    code = "units-held-cap"

    def __init__(self, sku_id: str, index: int, limit: int, held: int) -> None:
        super().__init__(
            f"at most {limit} units of SKU {sku_id} may be held unpaid by one buyer; "
            f"{held} already are, in checkouts awaiting payment",
            field=f"items[{index}].quantity",
            sku_id=sku_id,
            limit=limit,
            held=held,
        )


def asked_per_sku(items: Sequence[ReserveItem]) -> dict[str, tuple[int, int]]:
    """sku_id (lower case) -> (units asked in all, index of its first item), in first-seen order."""
    asked: dict[str, tuple[int, int]] = {}
    for index, item in enumerate(items):
        key = item.sku_id.lower()
        units, first = asked.get(key, (0, index))
        asked[key] = (units + item.quantity, first)
    return asked


def ensure_within_caps(
    items: Sequence[ReserveItem],
    *,
    unpaid_checkouts: int,
    held: Mapping[str, int],
    max_unpaid_checkouts: int,
    max_units_held_per_sku: int,
) -> None:
    """Refuse a new checkout that would take the buyer past either cap (`held`: units per SKU, lower case)."""
    if unpaid_checkouts >= max_unpaid_checkouts:
        raise UnpaidCheckoutsCap(max_unpaid_checkouts)
    for sku_id, (units, index) in asked_per_sku(items).items():
        already = held.get(sku_id, 0)
        if already + units > max_units_held_per_sku:
            raise UnitsHeldCap(sku_id, index, max_units_held_per_sku, already)
