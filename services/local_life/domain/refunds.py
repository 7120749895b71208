"""Voucher refunds and expiry: which vouchers a buyer's refund takes back, and what the expiry of a line does to its
unused vouchers (no I/O).

A refund is of one order (orders gives money back per order: one grant, one order) and one deal (the event names
one). A purchase is a unit: a 1-voucher deal's voucher, or a multi-visit card's every voucher (`unit_no`); a card is
refunded whole or not at all, and a partly used card is not refunded here (the buyer opens an after-sales case).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from libs.errors import Conflict, Invalid, NotFound
from services.local_life.domain.redemptions import DuplicateVoucher
from services.local_life.domain.vouchers import VoucherNotFound

# --- refusals ---------------------------------------------------------------------------------------


class VoucherNotRefundable(Conflict):
    """A voucher that cannot be refunded any more; `reason` says why."""

    code = "voucher-not-refundable"

    _DETAILS = {
        "already-redeemed": "this voucher was used; ask for an after-sales refund on the order instead",
        "refunded": "this voucher was refunded already",
        "refund-pending": "this voucher's refund is under way",
        "expired": "this voucher has expired",
    }

    def __init__(self, reason: str, index: int) -> None:
        detail = self._DETAILS.get(reason, "this voucher cannot be refunded")
        super().__init__(detail, field=f"voucher_ids[{index}]", reason=reason)


class RefundNotFound(NotFound):
    code = "refund-not-found"

    def __init__(self) -> None:
        super().__init__("no such refund")


class VouchersOfSeveralOrders(Invalid):
    code = "vouchers-of-several-orders"

    def __init__(self, index: int) -> None:
        super().__init__("a refund takes vouchers of one order; ask once per order", field=f"voucher_ids[{index}]")


class VouchersOfSeveralDeals(Invalid):
    code = "vouchers-of-several-deals"

    def __init__(self, index: int) -> None:
        super().__init__("a refund takes vouchers of one deal; ask once per deal", field=f"voucher_ids[{index}]")


class PartialCard(Invalid):
    """A multi-visit card is refunded whole: every voucher of the purchase, all unused."""

    code = "partial-card"

    def __init__(self, index: int, *, used: bool) -> None:
        detail = (
            "this card was partly used: ask for an after-sales refund on the order"
            if used
            else "a multi-visit card is refunded whole: name every voucher of the purchase"
        )
        super().__init__(detail, field=f"voucher_ids[{index}]")


# --- what a refund takes ----------------------------------------------------------------------------

REASONS = {"redeemed": "already-redeemed", "refunded": "refunded", "refund_pending": "refund-pending"}


class VoucherForRefund(msgspec.Struct, frozen=True, kw_only=True):
    """A voucher as refunds see it: its purchase (order, line, unit), state, validity and price."""

    voucher_id: str
    order_id: str
    line_no: int
    unit_no: int
    deal_id: str
    merchant_id: str
    buyer_id: str
    status: str
    valid_until: datetime
    amount_minor: int
    currency: str | None
    auto_refund: bool
    refund_grant_id: str | None = None


class RefundPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The vouchers one refund takes back, as units per line, and what they cost."""

    order_id: str
    deal_id: str
    merchant_id: str
    buyer_id: str
    voucher_ids: list[str]  # sorted
    units: dict[int, int]  # line_no -> purchases
    amount_minor: int
    currency: str | None


def plan(vouchers: list[VoucherForRefund]) -> RefundPlan:
    """The refund of these vouchers (all of one order and deal)."""
    first = vouchers[0]
    units: dict[int, set[int]] = {}
    for v in vouchers:
        units.setdefault(v.line_no, set()).add(v.unit_no)
    return RefundPlan(
        order_id=first.order_id,
        deal_id=first.deal_id,
        merchant_id=first.merchant_id,
        buyer_id=first.buyer_id,
        voucher_ids=sorted(v.voucher_id for v in vouchers),
        units={line_no: len(nos) for line_no, nos in sorted(units.items())},
        amount_minor=sum(v.amount_minor for v in vouchers),
        currency=first.currency,
    )


def replayed_grant(asked: list[str], found: list[VoucherForRefund]) -> str | None:
    """The refund these very vouchers are already in (every one asked, under one grant), if any: asking again
    without an Idempotency-Key answers it rather than refusing."""
    by_id = {v.voucher_id: v for v in found}
    grants = {by_id[a].refund_grant_id for a in asked if a in by_id}
    if len(grants) != 1 or None in grants:
        return None
    [grant] = grants
    in_grant = sorted(v.voucher_id for v in found if v.refund_grant_id == grant)
    return grant if in_grant == sorted(asked) else None


def check_buyer_refund(asked: list[str], found: list[VoucherForRefund], now: datetime) -> RefundPlan:
    """What a buyer's refund of `asked` takes back: refused when a voucher is not theirs (404, as unknown), the
    vouchers span orders or deals, one cannot be refunded (409 with the reason) or a card is not asked whole."""
    by_id = {v.voucher_id: v for v in found}
    for index, voucher_id in enumerate(asked):
        if voucher_id in asked[:index]:
            raise DuplicateVoucher(index)
        if voucher_id not in by_id:
            raise VoucherNotFound("no such voucher")
    first = by_id[asked[0]]
    for index, voucher_id in enumerate(asked):
        v = by_id[voucher_id]
        if v.order_id != first.order_id:
            raise VouchersOfSeveralOrders(index)
        if v.deal_id != first.deal_id:
            raise VouchersOfSeveralDeals(index)
    for index, voucher_id in enumerate(asked):
        v = by_id[voucher_id]
        if v.status in REASONS:
            raise VoucherNotRefundable(REASONS[v.status], index)
        # Past its validity a voucher of an auto-refund deal is still refunded (the expiry job would do just that).
        if v.status == "expired" or (v.valid_until <= now and not v.auto_refund):
            raise VoucherNotRefundable("expired", index)
    asked_set = set(asked)
    for index, voucher_id in enumerate(asked):
        v = by_id[voucher_id]
        siblings = [s for s in found if (s.order_id, s.line_no, s.unit_no) == (v.order_id, v.line_no, v.unit_no)]
        if any(s.status != "unused" for s in siblings):
            raise PartialCard(index, used=True)
        if any(s.voucher_id not in asked_set for s in siblings):
            raise PartialCard(index, used=False)
    return plan([by_id[a] for a in asked])


# --- expiry -----------------------------------------------------------------------------------------


class ExpiryPlan(msgspec.Struct, frozen=True, kw_only=True):
    """At a line's `valid_until`: whole unused purchases to refund (auto-refund deals), unused vouchers to expire."""

    refund: list[VoucherForRefund]
    expire: list[str]


def plan_expiry(vouchers: list[VoucherForRefund], *, auto_refund: bool, now: datetime) -> ExpiryPlan:
    """Units whose every voucher is unused and past its validity are refunded if the deal refunds at expiry; any
    other unused voucher past its validity (no auto-refund, or a partly used card) expires."""
    units: dict[int, list[VoucherForRefund]] = {}
    for v in vouchers:
        units.setdefault(v.unit_no, []).append(v)
    refund: list[VoucherForRefund] = []
    expire: list[str] = []
    for unit in units.values():
        due = [v for v in unit if v.status == "unused" and v.valid_until <= now]
        if not due:
            continue
        if auto_refund and len(due) == len(unit):
            refund.extend(due)
        else:
            expire.extend(v.voucher_id for v in due)
    return ExpiryPlan(refund=refund, expire=sorted(expire))
