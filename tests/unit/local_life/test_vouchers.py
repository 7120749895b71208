"""A line's amount and purchases, as its vouchers carry them."""

from services.local_life.domain import vouchers


def test_a_lines_amount_is_split_over_its_vouchers_to_the_minor_unit() -> None:
    # 3 visits for 100: 34 + 33 + 33, never 99 or 102 in all.
    assert vouchers.voucher_amounts(100, 3) == [34, 33, 33]
    assert sum(vouchers.voucher_amounts(2599 * 2 - 200, 6)) == 2599 * 2 - 200


def test_a_multi_visit_cards_vouchers_share_their_purchase() -> None:
    # Two 3-visit cards on one line: vouchers 1-3 are the first card, 4-6 the second.
    assert [vouchers.unit_of(seq, 3) for seq in range(1, 7)] == [1, 1, 1, 2, 2, 2]
    assert [vouchers.unit_of(seq, 1) for seq in range(1, 3)] == [1, 2]
