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


# --- requests local_life answers ------------------------------------------------------------------

RESERVE_DEALS = "rpc.local.deal.reserve.v1"


class ReserveDealItem(msgspec.Struct, frozen=True, kw_only=True):
    deal_id: str
    quantity: int
    room_id: str | None = None


class ReserveDeals(msgspec.Struct, frozen=True, kw_only=True):
    """Hold deal purchases for a checkout: all items or none. Idempotent on `checkout_id` (as shop's stock request).

    A hold counts in the deal's `sold` (against `total_quantity`) and the buyer's units (against `per_buyer_limit`)
    until the order is paid (committed) or cancelled, abandoned, or `hold_until` passes (released).
    """

    checkout_id: str
    buyer_id: str
    items: list[ReserveDealItem]
    hold_until: datetime
    # The caller stops waiting at this instant: past it, local_life must not commit a hold nobody will use.
    answer_by: datetime | None = None


class ReservedDeal(msgspec.Struct, frozen=True, kw_only=True):
    deal_id: str
    merchant_id: str
    title: str
    quantity: int
    unit_price_minor: int
    currency: str
    room_id: str | None = None


class ReserveDealsReply(msgspec.Struct, frozen=True, kw_only=True):
    """`ok` with priced lines, or an error code: `unknown_deal` (no such published deal), `invalid_quantity`,
    `sold_out` (`available` says how many are left), `buyer_limit` (`limit`, `held`), `mixed_currency`,
    `checkout_conflict` (the id was used with other items), `expired` (the checkout's hold lapsed or was released),
    `too_late`, `invalid_request`; `item_index` names the item at fault."""

    ok: bool
    lines: list[ReservedDeal] = []
    error: str | None = None
    detail: str | None = None
    item_index: int | None = None
    available: int | None = None
    limit: int | None = None
    held: int | None = None


__all__ = [
    "RESERVE_DEALS",
    "IssuedVoucher",
    "RedemptionUndone",
    "ReserveDealItem",
    "ReserveDeals",
    "ReserveDealsReply",
    "ReservedDeal",
    "VoucherRedeemed",
    "VoucherSource",
    "VouchersIssued",
]
