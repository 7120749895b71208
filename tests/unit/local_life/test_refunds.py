"""What a buyer's voucher refund takes back, what it refuses, and what expiry does to a line's unused vouchers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.local_life.domain.redemptions import DuplicateVoucher
from services.local_life.domain.refunds import (
    PartialCard,
    VoucherForRefund,
    VoucherNotRefundable,
    VouchersOfSeveralDeals,
    VouchersOfSeveralOrders,
    check_buyer_refund,
    plan_expiry,
    replayed_grant,
)
from services.local_life.domain.vouchers import VoucherNotFound

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def voucher(n: int, *, unit: int | None = None, status: str = "unused", **fields) -> VoucherForRefund:
    values = dict(
        voucher_id=f"v{n}",
        order_id="o1",
        line_no=0,
        unit_no=unit if unit is not None else n,
        deal_id="d1",
        merchant_id="m1",
        buyer_id="b1",
        status=status,
        valid_until=NOW + timedelta(days=1),
        amount_minor=3300,
        currency="CNY",
        auto_refund=True,
    )
    return VoucherForRefund(**(values | fields))


def test_one_of_two_vouchers_is_one_unit_of_its_line_at_its_price() -> None:
    plan = check_buyer_refund(["v2"], [voucher(2)], NOW)
    assert plan.voucher_ids == ["v2"]
    assert plan.units == {0: 1}
    assert plan.amount_minor == 3300
    assert plan.currency == "CNY"


def test_a_card_is_one_unit_and_must_be_asked_whole_and_unused() -> None:
    card = [voucher(1, unit=1), voucher(2, unit=1), voucher(3, unit=1)]
    plan = check_buyer_refund(["v3", "v1", "v2"], card, NOW)
    assert plan.units == {0: 1}
    assert plan.voucher_ids == ["v1", "v2", "v3"]
    assert plan.amount_minor == 9900
    with pytest.raises(PartialCard):
        check_buyer_refund(["v1", "v2"], card, NOW)
    used = [voucher(1, unit=1, status="redeemed"), voucher(2, unit=1), voucher(3, unit=1)]
    with pytest.raises(PartialCard):
        check_buyer_refund(["v2", "v3"], used, NOW)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("redeemed", "already-redeemed"),
        ("refunded", "refunded"),
        ("refund_pending", "refund-pending"),
        ("expired", "expired"),
    ],
)
def test_a_voucher_no_longer_unused_is_not_refundable_with_the_reason(status: str, reason: str) -> None:
    with pytest.raises(VoucherNotRefundable) as refused:
        check_buyer_refund(["v1"], [voucher(1, status=status)], NOW)
    assert refused.value.extra["reason"] == reason


def test_past_validity_only_an_auto_refund_deals_voucher_is_refunded() -> None:
    old = NOW - timedelta(hours=1)
    assert check_buyer_refund(["v1"], [voucher(1, valid_until=old)], NOW).voucher_ids == ["v1"]
    with pytest.raises(VoucherNotRefundable):
        check_buyer_refund(["v1"], [voucher(1, valid_until=old, auto_refund=False)], NOW)


def test_vouchers_not_found_duplicated_or_of_several_orders_or_deals_are_refused() -> None:
    with pytest.raises(VoucherNotFound):
        check_buyer_refund(["v9"], [voucher(1)], NOW)
    with pytest.raises(DuplicateVoucher):
        check_buyer_refund(["v1", "v1"], [voucher(1)], NOW)
    with pytest.raises(VouchersOfSeveralOrders):
        check_buyer_refund(["v1", "v2"], [voucher(1), voucher(2, order_id="o2")], NOW)
    with pytest.raises(VouchersOfSeveralDeals):
        check_buyer_refund(["v1", "v2"], [voucher(1), voucher(2, deal_id="d2")], NOW)


def test_asking_again_for_the_vouchers_of_a_pending_refund_names_it() -> None:
    pending = [
        voucher(1, status="refund_pending", refund_grant_id="g"),
        voucher(2, status="refund_pending", refund_grant_id="g"),
    ]
    assert replayed_grant(["v2", "v1"], pending) == "g"
    assert replayed_grant(["v1"], pending) is None  # not the same refund
    assert replayed_grant(["v1"], [voucher(1)]) is None


def test_expiry_refunds_whole_unused_units_of_auto_refund_deals_and_expires_the_rest() -> None:
    past = NOW - timedelta(seconds=1)
    line = [
        voucher(1, unit=1, valid_until=past),
        voucher(2, unit=1, valid_until=past),
        voucher(3, unit=2, valid_until=past, status="redeemed"),
        voucher(4, unit=2, valid_until=past),
        voucher(5, unit=3, valid_until=past, status="refunded"),
    ]
    plan = plan_expiry(line, auto_refund=True, now=NOW)
    assert [v.voucher_id for v in plan.refund] == ["v1", "v2"]
    assert plan.expire == ["v4"]
    plain = plan_expiry(line, auto_refund=False, now=NOW)
    assert plain.refund == []
    assert plain.expire == ["v1", "v2", "v4"]
    assert plan_expiry([voucher(1)], auto_refund=True, now=NOW) == plan_expiry([], auto_refund=True, now=NOW)
