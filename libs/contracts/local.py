"""What local_life announces: vouchers issued, redeemed and undone."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

import msgspec

from libs.contracts.base import Event


class VoucherSource(msgspec.Struct, frozen=True, kw_only=True):
    """Where the voucher was bought: the order line's room (and, later, video or flash sale)."""

    order_id: str
    line_no: int
    room_id: str | None = None
    flash_sale_id: str | None = None


class IssuedVoucher(msgspec.Struct, frozen=True, kw_only=True):
    voucher_id: str
    valid_from: datetime
    valid_until: datetime


class VouchersIssued(Event, frozen=True, kw_only=True):
    """A paid order line's vouchers exist (one event per line)."""

    SUBJECT: ClassVar[str] = "local.vouchers.issued.v1"
    deal_id: str
    merchant_id: str
    buyer_id: str
    source: VoucherSource
    vouchers: list[IssuedVoucher]


class VoucherRedeemed(Event, frozen=True, kw_only=True):
    """A clerk redeemed a voucher at a store; the source says which room sold it."""

    SUBJECT: ClassVar[str] = "local.voucher.redeemed.v1"
    redemption_id: str
    voucher_id: str
    deal_id: str
    merchant_id: str
    store_id: str
    clerk_id: str
    source: VoucherSource
    redeemed_at: datetime


class RedemptionUndone(Event, frozen=True, kw_only=True):
    """A redemption was taken back by its store within the undo window: the voucher is usable again."""

    SUBJECT: ClassVar[str] = "local.voucher.redemption_undone.v1"
    redemption_id: str
    voucher_id: str
    deal_id: str
    merchant_id: str
    store_id: str
    clerk_id: str
    source: VoucherSource
    undone_at: datetime


__all__ = ["IssuedVoucher", "RedemptionUndone", "VoucherRedeemed", "VoucherSource", "VouchersIssued"]
