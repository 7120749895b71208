"""What local_life's API answers with: plain Structs the store builds and the use cases return."""

from __future__ import annotations

from datetime import date, datetime

import msgspec


class StoreView(msgspec.Struct, kw_only=True):
    """A store as its merchant, its clerks and buyers see it."""

    store_id: str
    merchant_id: str
    name: str
    address: str
    lat: float
    lng: float
    phone: str
    timezone: str
    # Weekday ("0" = Monday .. "6") -> [["HH:MM", "HH:MM"], ...] local to `timezone`; a weekday left out is closed.
    opening_hours: dict[str, list[list[str]]]
    status: str
    created_at: datetime
    updated_at: datetime


class StorePage(msgspec.Struct, kw_only=True):
    items: list[StoreView]
    next_cursor: str | None = None


class ClerkView(msgspec.Struct, kw_only=True):
    clerk_id: str
    store_id: str
    merchant_id: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime


class ClerkList(msgspec.Struct, kw_only=True):
    items: list[ClerkView]


class ClerkMe(msgspec.Struct, kw_only=True):
    """A clerk's own view: who they are and the store their token is for."""

    clerk: ClerkView
    store: StoreView


class DealView(msgspec.Struct, kw_only=True):
    """A deal with its terms; `store_ids` are the stores it names (empty with `all_stores`)."""

    deal_id: str
    merchant_id: str
    title: str
    description: str
    price_minor: int
    original_value_minor: int
    currency: str
    vouchers_per_purchase: int
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None
    usage_weekdays: list[int]
    usage_hours: list[str] | None
    per_visit_limit: int | None
    total_quantity: int | None
    sold: int
    per_buyer_limit: int | None
    auto_refund_at_expiry: bool
    team_size: int | None
    team_window_s: int
    all_stores: bool
    store_ids: list[str]
    status: str
    published_at: datetime | None
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DealPage(msgspec.Struct, kw_only=True):
    items: list[DealView]
    next_cursor: str | None = None


class PlaceView(msgspec.Struct, kw_only=True):
    """Where a buyer can use a deal: a store's public face."""

    store_id: str
    name: str
    address: str
    lat: float
    lng: float
    phone: str
    timezone: str
    opening_hours: dict[str, list[list[str]]]
    status: str


class PublicDeal(msgspec.Struct, kw_only=True):
    """A published deal as buyers see it, with the stores it can be used at."""

    deal: DealView
    # The deal's stores (or all its merchant's), open ones first, then by name.
    stores: list[PlaceView]
    remaining: int | None


class NearStore(msgspec.Struct, kw_only=True):
    store_id: str
    name: str
    address: str
    lat: float
    lng: float


class NearbyDeal(msgspec.Struct, kw_only=True):
    """A published deal with its nearest open eligible store and the great-circle distance to it."""

    deal: DealView
    store: NearStore
    distance_m: float


class NearbyPage(msgspec.Struct, kw_only=True):
    items: list[NearbyDeal]
    next_cursor: str | None = None


class FoundDeal(msgspec.Struct, kw_only=True):
    deal: DealView
    # How well the title matches (pg_trgm: word similarity plus similarity; higher is better).
    score: float


class SearchPage(msgspec.Struct, kw_only=True):
    items: list[FoundDeal]
    next_cursor: str | None = None


# --- vouchers and redemption -------------------------------------------------------------------------


class VoucherRedemption(msgspec.Struct, kw_only=True):
    """A use of a voucher at a store (undone ones too, with when)."""

    redemption_id: str
    store_id: str
    store_name: str
    redeemed_at: datetime
    undone_at: datetime | None


class VoucherView(msgspec.Struct, kw_only=True):
    """A voucher as its buyer sees it: the code to show at the counter (or its QR payload) and its state."""

    voucher_id: str
    deal_id: str
    deal_title: str
    merchant_id: str
    order_id: str
    line_no: int
    room_id: str | None
    code: str  # `XXXXX-XXXXX-XXXXX-XXXXX-C`
    qr: str  # `v1.<voucher_id>.<mac>`
    status: str  # unused | redeemed | refund_pending | refunded | expired
    valid_from: datetime
    valid_until: datetime
    issued_at: datetime
    redeemed_at: datetime | None
    redemptions: list[VoucherRedemption]


class VoucherPage(msgspec.Struct, kw_only=True):
    items: list[VoucherView]
    next_cursor: str | None = None


# --- refunds, reports and settlement -----------------------------------------------------------------


class VoucherRefundView(msgspec.Struct, kw_only=True):
    """A refund of vouchers local_life asked orders for: `pending` until orders answers, then `succeeded` or
    `failed` (the vouchers usable again). `amount_minor` is what the vouchers cost; `refunded_minor` what orders gave
    back (the units' share of the line)."""

    refund_id: str  # = grant_id
    grant_id: str
    reason: str  # buyer | expired
    status: str  # pending | succeeded | failed
    order_id: str
    deal_id: str
    voucher_ids: list[str]
    amount_minor: int
    currency: str | None
    requested_at: datetime
    decided_at: datetime | None = None
    failure_reason: str | None = None
    refunded_minor: int | None = None


class StoreDayRedemptions(msgspec.Struct, kw_only=True):
    """Redemptions (not undone) at one store on one day of the store's time zone, in one currency."""

    store_id: str
    store_name: str
    timezone: str
    day: date
    currency: str | None
    redemptions: int
    amount_minor: int


class RedemptionReport(msgspec.Struct, kw_only=True):
    from_day: date
    to_day: date
    items: list[StoreDayRedemptions]


class DealVoucherCounts(msgspec.Struct, kw_only=True):
    """A deal's vouchers by state: `sold` = issued = the sum of the others."""

    deal_id: str
    title: str
    sold: int
    unused: int
    redeemed: int
    refund_pending: int
    refunded: int
    expired: int


class VoucherReport(msgspec.Struct, kw_only=True):
    items: list[DealVoucherCounts]


class CurrencyTotal(msgspec.Struct, kw_only=True):
    currency: str
    redemptions: int
    amount_minor: int


class SettlementDue(msgspec.Struct, kw_only=True):
    """What a settlement now would take: redemptions made before `cut_at` (now less the undo window), not undone,
    not settled."""

    cut_at: datetime
    totals: list[CurrencyTotal]


class SettlementView(msgspec.Struct, kw_only=True):
    settlement_id: str
    merchant_id: str
    cut_at: datetime
    created_at: datetime
    totals: list[CurrencyTotal]


class SettlementPage(msgspec.Struct, kw_only=True):
    items: list[SettlementView]
    next_cursor: str | None = None


class OfferedVoucher(msgspec.Struct, kw_only=True):
    """A voucher a clerk may redeem now, as the clerk sees it."""

    voucher_id: str
    masked_code: str
    deal_title: str
    valid_until: datetime


class PreparedRedemption(msgspec.Struct, kw_only=True):
    """What prepare offers: the usable vouchers of the scanned voucher's order line and the token to verify them."""

    verify_token: str
    expires_at: datetime
    per_visit_limit: int | None
    vouchers: list[OfferedVoucher]


class VerifiedVoucher(msgspec.Struct, kw_only=True):
    """One chosen voucher's outcome: `redeemed` (with its redemption) or `already-redeemed` (someone was first)."""

    voucher_id: str
    outcome: str
    redemption_id: str | None = None
    redeemed_at: datetime | None = None


class VerifyResult(msgspec.Struct, kw_only=True):
    """A verify's answer, kept with its token and given again to a retry."""

    store_id: str
    clerk_id: str
    verified_at: datetime
    vouchers: list[VerifiedVoucher]


class RedemptionView(msgspec.Struct, kw_only=True):
    redemption_id: str
    voucher_id: str
    deal_id: str
    store_id: str
    clerk_id: str
    redeemed_at: datetime
    undone_at: datetime | None


class ClerkRedemption(msgspec.Struct, kw_only=True):
    """A redemption at the clerk's store, as the counter lists it: the voucher masked, undone ones too."""

    redemption_id: str
    voucher_id: str
    masked_code: str
    deal_title: str
    redeemed_at: datetime
    clerk_id: str
    undone_at: datetime | None
    # Until when the store may still undo it; None once it cannot (undone, settled, or the undo window is over).
    undoable_until: datetime | None


class ClerkRedemptionPage(msgspec.Struct, kw_only=True):
    """A store's redemptions on one of its days (its own time zone), newest first."""

    store_id: str
    day: date
    timezone: str
    items: list[ClerkRedemption]
    next_cursor: str | None = None


class TeamView(msgspec.Struct, kw_only=True):
    """A team buy as anyone with its id sees it (to decide to join): seats paid, held and left; no buyer ids."""

    team_id: str
    deal_id: str
    deal_title: str
    merchant_id: str
    team_size: int
    seats_paid: int
    seats_held: int
    # Free seats while the team is open (0 once it filled or failed).
    seats_left: int
    opened_at: datetime
    deadline: datetime
    status: str
    closed_at: datetime | None
