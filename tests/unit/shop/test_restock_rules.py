"""Which units of a cancellation after payment or of a return go back on hand, and in what order."""

from __future__ import annotations

import uuid

from libs.contracts import CancelledLine, ReturnedLine
from services.shop.domain.restocks import Restock, cancelled_units, less_shortfalls, returned_units

A, B = sorted(str(uuid.uuid4()) for _ in range(2))


def test_cancelled_lines_come_back_whole_in_sku_order_and_lines_naming_nothing_are_set_aside() -> None:
    lines = [
        CancelledLine(line_no=1, sku_id=B, quantity=2),
        CancelledLine(line_no=2, sku_id=A.upper(), quantity=1, flash_sale_id="sale-1"),
        CancelledLine(line_no=3, sku_id="not-a-sku", quantity=1),
        CancelledLine(line_no=4, sku_id=A, quantity=0),
    ]
    found, dropped = cancelled_units(lines)
    assert found == [Restock(2, A, 1, 1), Restock(1, B, 2, 2)]
    assert [line.line_no for line in dropped] == [3, 4]


def test_a_return_puts_back_its_restockable_units_held_within_what_came_back() -> None:
    found, dropped = returned_units(
        [
            ReturnedLine(line_no=1, sku_id=A, quantity=3, restockable=2),
            ReturnedLine(line_no=2, sku_id=B, quantity=1, restockable=5),
            ReturnedLine(line_no=3, sku_id=B, quantity=2, restockable=-1),
            ReturnedLine(line_no=4, sku_id="x", quantity=2, restockable=2),
        ]
    )
    assert found == [Restock(1, A, 3, 2), Restock(2, B, 1, 1), Restock(3, B, 2, 0)]
    assert [line.line_no for line in dropped] == [4]


def test_a_shortfall_is_used_up_across_the_lines_of_its_sku() -> None:
    lines = [Restock(1, A, 2, 2), Restock(2, A, 3, 3), Restock(3, B, 1, 1)]
    assert less_shortfalls(lines, {A: 4}) == [Restock(1, A, 2, 0), Restock(2, A, 3, 1), Restock(3, B, 1, 1)]
    assert less_shortfalls(lines, {}) == lines
