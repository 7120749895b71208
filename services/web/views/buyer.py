"""What the buyer pages' templates get: plain data, made by `use_cases.buyer` from the services' answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True)
class RoomCard:
    """A room in a listing: live now, scheduled, a followed host's, a host's page."""

    room_id: str
    title: str
    cover_url: str | None
    host_id: str
    status: str
    viewers: int
    scheduled_start_at: datetime | None
    # What the room shows now: {kind, title, price_minor, currency} or None.
    pinned: dict[str, Any] | None


@dataclass
class RoomList:
    """One page of rooms and the cursor of the next (None: the last page)."""

    rooms: list[RoomCard]
    next_cursor: str | None = None


@dataclass(frozen=True)
class FollowedHost:
    host_id: str
    fans: int
    live: bool
    followed_at: datetime


@dataclass
class LivePage:
    """Live now, scheduled, and (a buyer's) rooms of followed hosts with the hosts; each list pages on its own."""

    live: RoomList
    scheduled: RoomList
    following_rooms: RoomList
    following: list[FollowedHost]
    more_following: bool
    # The cursors the page was opened with, so a "more" link keeps the other lists where they were.
    cursors: dict[str, str]

    def more_href(self, name: str) -> str | None:
        """The page with list `name` (`live`, `scheduled`, `following`) one page on, the others where they are."""
        after = {"live": self.live, "scheduled": self.scheduled, "following": self.following_rooms}[name].next_cursor
        return f"/live?{urlencode(self.cursors | {name: after})}" if after else None


@dataclass(frozen=True)
class VideoCard:
    video_id: str
    title: str
    cover_url: str | None
    media_url: str
    duration_s: float
    published_at: datetime


@dataclass
class HostView:
    """A host's page: fans, whether I follow, their rooms and short videos."""

    host_id: str
    fans: int
    following: bool
    rooms: list[RoomCard]
    videos: list[VideoCard]
    videos_next: str | None = None
    error: str | None = None
    status: int = 200


@dataclass(frozen=True)
class FoundProduct:
    product_id: str
    title: str
    merchant_name: str
    currency: str
    min_price_minor: int
    max_price_minor: int
    in_stock: bool


@dataclass
class SearchPage:
    """The search form (as typed, with its errors), what shop found and the cursor of the next page."""

    form: Any  # domain.buyer.SearchForm
    results: list[FoundProduct]
    next_cursor: str | None
    currencies: tuple[str, ...]
    status: int = 200

    @property
    def next_href(self) -> str | None:
        """The same search, one page on."""
        if not self.next_cursor:
            return None
        asked = {k: v for k, v in self.form.values.items() if k != "cursor" and v}
        return f"/search?{urlencode(asked | {'cursor': self.next_cursor})}"


@dataclass
class ProductPage:
    """A published product as buyers see it, its merchant's name, and the add-to-cart form's state."""

    product: dict[str, Any]
    merchant_name: str
    key: str
    chosen_sku: str | None = None
    quantity: str = "1"
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 200


@dataclass(frozen=True)
class CartLine:
    sku_id: str
    product_id: str
    title: str
    sku_name: str
    quantity: int
    unit_price_minor: int
    line_minor: int
    currency: str
    stock_available: int
    room_id: str | None


@dataclass
class CartShop:
    """The lines of one merchant (one order at checkout) and the coupons that order can take."""

    merchant_id: str
    merchant_name: str
    lines: list[CartLine]
    subtotals: dict[str, int]
    coupons: list[dict[str, Any]]


@dataclass
class CartPage:
    """The cart by merchant, subtotals, and a refusal to show (by a line, or for the page) with where to go back."""

    shops: list[CartShop]
    subtotals: dict[str, int]
    key: str
    errors: dict[str, str] = field(default_factory=dict)
    back: str | None = None
    status: int = 200

    @property
    def empty(self) -> bool:
        return not self.shops


@dataclass(frozen=True)
class DealCard:
    deal_id: str
    title: str
    price_minor: int
    original_value_minor: int
    currency: str
    vouchers_per_purchase: int
    team_size: int | None
    store_name: str | None
    distance_m: float | None


@dataclass
class DealsPage:
    """Deals nearby (nearest first) or found by title, the location form and the next page's cursor."""

    where: Any  # domain.buyer.WhereForm
    q: str
    deals: list[DealCard]
    next_cursor: str | None
    radii: tuple[int, ...]
    status: int = 200

    @property
    def next_href(self) -> str | None:
        """The same deals, one page on."""
        if not self.next_cursor:
            return None
        asked = {k: v for k, v in self.where.values.items() if k != "cursor" and v}
        return f"/deals?{urlencode(asked | {'cursor': self.next_cursor})}"

    @property
    def where_query(self) -> str:
        """Where the buyer is, for a deal's page to measure its stores from."""
        point = self.where.where
        return urlencode({"lat": point.lat, "lng": point.lng})


@dataclass(frozen=True)
class Place:
    """A store where a deal can be used, with its distance from the buyer (when known) and its week."""

    store_id: str
    name: str
    address: str
    phone: str
    timezone: str
    status: str
    distance_m: float | None
    days: list[Any]  # domain.buyer.OpeningDay


@dataclass
class DealPage:
    deal: dict[str, Any]
    places: list[Place]
    remaining: int | None
    key: str
    where_query: str
    # The weekdays its vouchers can be used on, by name (all seven: any day).
    usable_on: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class VoucherCard:
    voucher_id: str
    deal_id: str
    deal_title: str
    status: str
    valid_until: datetime
    redeemed_at: datetime | None


@dataclass
class VouchersPage:
    """My vouchers, by group (`domain.buyer.VOUCHER_GROUPS`), and whether older ones were left out."""

    groups: dict[str, list[VoucherCard]]
    more: bool


@dataclass(frozen=True)
class RefundState:
    """A refund of vouchers as local_life follows it: `pending`, then `succeeded` or `failed`."""

    refund_id: str
    voucher_id: str
    status: str
    amount_minor: int
    refunded_minor: int | None
    currency: str | None
    failure_reason: str | None
    voucher_count: int


@dataclass
class VoucherPage:
    """One voucher: its code, QR code, state, redemptions; the refund form (unused) or the refund under way."""

    voucher: dict[str, Any]
    qr: str
    group: str
    key: str
    # The purchase's other unused vouchers of the same order line (a multi-visit card is refunded whole).
    siblings: list[dict[str, Any]]
    # The deal is a multi-visit card (or ended, so unknown): the siblings are ticked, a card being refunded whole.
    card: bool = False
    refund: RefundState | None = None
    error: str | None = None
    status: int = 200
