"""Where a line was sold: a line naming a live room is checked with live before the checkout records it.

A room is a true source of a line when it exists and sells for the line's merchant: the rule live's room sales
count by, so a verified source is one the sale is counted for. When live does not answer in time the line keeps
its room, unverified (live's counter applies the same rule again when the order is paid; nothing is counted wrongly).
"""

from __future__ import annotations

from collections.abc import Sequence

from libs.contracts import SOURCE_NOT_SELLING, SOURCE_UNKNOWN_ROOM, ReservedDeal, ReservedLine, ReserveItem, RoomSource
from libs.errors import Invalid


class UnknownRoom(Invalid):
    code = "unknown-room"


class RoomNotSelling(Invalid):
    code = "room-not-selling"


def _bought(line: ReservedLine | ReservedDeal) -> str:
    """What the line buys: its SKU, or its deal (a deal line's product is the deal)."""
    return line.deal_id if isinstance(line, ReservedDeal) else line.sku_id


def sources_of(reserved: Sequence[ReservedLine | ReservedDeal]) -> list[RoomSource]:
    """What to ask live: each reserved line that names a room (from the checkout or from the buyer's cart)."""
    return [
        RoomSource(
            room_id=line.room_id,
            merchant_id=line.merchant_id,
            product_id=line.deal_id if isinstance(line, ReservedDeal) else line.product_id,
        )
        for line in reserved
        if line.room_id
    ]


def ensure_true_sources(
    items: Sequence[ReserveItem], reserved: Sequence[ReservedLine | ReservedDeal], verdicts: Sequence[str]
) -> None:
    """Refuse the first line whose room does not exist or does not sell its product, naming the item at fault
    (`items`: the cart's, each keyed by the SKU or deal it buys)."""
    first_item: dict[str, int] = {}
    for index, item in enumerate(items):
        first_item.setdefault(item.sku_id.lower(), index)
    named = [line for line in reserved if line.room_id]
    for line, verdict in zip(named, verdicts, strict=True):
        field = f"items[{first_item.get(_bought(line).lower(), 0)}].room_id"
        if verdict == SOURCE_UNKNOWN_ROOM:
            raise UnknownRoom(f"there is no live room {line.room_id}", field=field)
        if verdict == SOURCE_NOT_SELLING:
            raise RoomNotSelling(
                f"room {line.room_id} does not sell {line.title}: it sells for another merchant", field=field
            )
