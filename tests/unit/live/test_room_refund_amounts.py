"""A refund's amount per room, as a paid order's is: by the room of each refunded line."""

from __future__ import annotations

import uuid

from libs.contracts import RefundLine
from services.live.rooms.domain import room_amounts

ROOM, OTHER = str(uuid.uuid4()), str(uuid.uuid4())


def refund_line(amount_minor: int, room_id: str | None) -> RefundLine:
    return RefundLine(line_no=1, sku_id=str(uuid.uuid4()), quantity=1, amount_minor=amount_minor, room_id=room_id)


def test_a_refunds_lines_add_up_per_room_and_lines_of_no_room_count_nowhere() -> None:
    lines = [
        refund_line(500, ROOM),
        refund_line(250, ROOM.upper()),
        refund_line(100, OTHER),
        refund_line(70, None),
        refund_line(30, "not-a-room"),
    ]
    assert room_amounts(lines) == {ROOM: 750, OTHER: 100}
