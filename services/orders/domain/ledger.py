"""The quantity ledger's one derived rule that both fulfilment and refunds stand on."""

from __future__ import annotations


def refundable_units(shipped: int, cancelled: int, refund_requested: int, *, deal_quantity: int | None = None) -> int:
    """Units a refund may still name: shipped (the buyer has them) or cancelled before shipping, not yet in a grant.

    A deal line (`deal_quantity`: its quantity) never ships: every paid unit is the buyer's from payment on (its
    vouchers, or a team-buy seat that may yet fail and be refunded before any voucher exists), so any unit not yet in
    a grant may be named; `shipped` there only says which units have vouchers.
    """
    if deal_quantity is not None:
        return deal_quantity - cancelled - refund_requested
    return shipped + cancelled - refund_requested
