"""The quantity ledger's one derived rule that both fulfilment and refunds stand on."""

from __future__ import annotations


def refundable_units(shipped: int, cancelled: int, refund_requested: int) -> int:
    """Units a refund may still name: shipped (the buyer has them) or cancelled before shipping, not yet in a grant."""
    return shipped + cancelled - refund_requested
