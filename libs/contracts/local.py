"""What local_life announces: deals published and ended; vouchers issued, redeemed, undone, refunded and expired;
refunds it asks orders for; team buys filled and failed."""

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


class DealState(Event, frozen=True, kw_only=True):
    """A deal as buyers see it (live keeps a replica so a host can put it in a room's bag and pin it)."""

    deal_id: str
    merchant_id: str
    title: str
    price_minor: int
    original_value_minor: int
    currency: str
    vouchers_per_purchase: int = 1
    # Set on team-buy deals: members needed, and how long a team has to fill.
    team_size: int | None = None
    valid_until: datetime | None = None


class DealPublished(DealState, frozen=True, kw_only=True):
    """A merchant published a deal: it can be bought (and put in a live room's bag)."""

    SUBJECT: ClassVar[str] = "local.deal.published.v1"


class DealEnded(DealState, frozen=True, kw_only=True):
    """A deal can no longer be bought (the merchant ended it). Vouchers already sold stay valid."""

    SUBJECT: ClassVar[str] = "local.deal.ended.v1"


class RefundUnits(msgspec.Struct, frozen=True, kw_only=True):
    """Units (purchases) of one deal line of the order to refund: a voucher of a 1-voucher deal is one unit; a
    multi-visit card (`vouchers_per_purchase` > 1) is refunded whole."""

    line_no: int
    quantity: int


class DealRefundRequested(Event, frozen=True, kw_only=True):
    """local_life asks orders to refund units of one order's deal lines, exactly once under `grant_id`.

    `reason`: `buyer` (the buyer refunded unused vouchers: any time before use), `expired` (unused vouchers of an
    auto-refund deal at expiry), `team_failed` (a team buy did not fill in time: the member's whole line). orders
    accepts it as a grant under the order's cap, refunds it at Stripe once, and answers with
    orders.refund.succeeded.v1 or orders.refund.failed.v1 carrying the same `grant_id`.
    """

    SUBJECT: ClassVar[str] = "local.refund.requested.v1"
    grant_id: str
    reason: str
    order_id: str
    buyer_id: str
    merchant_id: str
    deal_id: str
    lines: list[RefundUnits]
    # The vouchers this refund takes back (none for a team that did not fill: it issued none).
    voucher_ids: list[str] = []
    team_id: str | None = None


class VouchersRefunded(Event, frozen=True, kw_only=True):
    """orders refunded these vouchers' money: they are `refunded` for ever (one event per grant)."""

    SUBJECT: ClassVar[str] = "local.vouchers.refunded.v1"
    grant_id: str
    reason: str
    deal_id: str
    merchant_id: str
    buyer_id: str
    source: VoucherSource
    voucher_ids: list[str]
    amount_minor: int


class VouchersExpired(Event, frozen=True, kw_only=True):
    """Unused vouchers passed their validity and were not refunded (the deal has no auto-refund, or a multi-visit card
    was partly used): they can no longer be redeemed."""

    SUBJECT: ClassVar[str] = "local.vouchers.expired.v1"
    deal_id: str
    merchant_id: str
    buyer_id: str
    source: VoucherSource
    voucher_ids: list[str]


class TeamMember(msgspec.Struct, frozen=True, kw_only=True):
    order_id: str
    line_no: int
    buyer_id: str
    quantity: int
    seat_no: int


class TeamFilled(Event, frozen=True, kw_only=True):
    """The N-th member of a team buy paid: every member's vouchers were issued at once (VouchersIssued per member)."""

    SUBJECT: ClassVar[str] = "local.team.filled.v1"
    team_id: str
    deal_id: str
    merchant_id: str
    team_size: int
    members: list[TeamMember]
    filled_at: datetime


class TeamFailed(Event, frozen=True, kw_only=True):
    """A team buy's window passed unfilled: no vouchers were issued, and every paid member is refunded in full
    (a DealRefundRequested per member, `reason` `team_failed`)."""

    SUBJECT: ClassVar[str] = "local.team.failed.v1"
    team_id: str
    deal_id: str
    merchant_id: str
    team_size: int
    members: list[TeamMember]
    failed_at: datetime


# --- requests local_life answers ------------------------------------------------------------------

RESERVE_DEALS = "rpc.local.deal.reserve.v1"


class ReserveDealItem(msgspec.Struct, frozen=True, kw_only=True):
    deal_id: str
    quantity: int
    room_id: str | None = None
    # Team-buy deals only: join this team; none opens a new team with this checkout's buyer as its first member.
    team_id: str | None = None


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
    # Team-buy deals: the team the buyer's seat is held in (share it so others join), and its size.
    team_id: str | None = None
    team_size: int | None = None


class ReserveDealsReply(msgspec.Struct, frozen=True, kw_only=True):
    """`ok` with priced lines, or an error code: `unknown_deal` (no such published deal), `invalid_quantity`,
        `sold_out` (`available` says how many are left), `buyer_limit` (`limit`, `held`), `mixed_currency`,
        `checkout_conflict` (the id was used with other items), `expired` (the checkout's hold lapsed or was released),
        `too_late`, `invalid_request`; for team buys `unknown_team` (no such open team of that deal), `team_full` (every
    seat is held or paid: `available` 0), `team_closed` (the team filled or failed), `not_a_team_deal` (a `team_id` for
    a deal without teams); `item_index` names the item at fault."""

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
    "DealEnded",
    "DealPublished",
    "DealRefundRequested",
    "DealState",
    "IssuedVoucher",
    "RedemptionUndone",
    "ReserveDealItem",
    "ReserveDeals",
    "ReserveDealsReply",
    "RefundUnits",
    "ReservedDeal",
    "TeamFailed",
    "TeamFilled",
    "TeamMember",
    "VoucherRedeemed",
    "VoucherSource",
    "VouchersExpired",
    "VouchersIssued",
    "VouchersRefunded",
]
