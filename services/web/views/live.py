"""What the live pages' templates get: a room's screen (the state a viewer sees, kept current by the room feed), the
host's figures, the host console's forms, a buyer's purchase and claim outcomes. Plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.web.views import Refusal


@dataclass
class Sku:
    sku_id: str
    name: str
    price_minor: int
    currency: str
    stock_available: int
    in_stock: bool


@dataclass
class BagEntry:
    """A product (`kind` "product", its SKUs) or a local_life deal (`kind` "deal", its price) in a room's bag."""

    kind: str
    item_id: str
    title: str
    position: int
    pinned: bool
    currency: str
    # Products: the lowest SKU price; deals: the deal's price.
    price_minor: int | None
    skus: list[Sku] = field(default_factory=list)
    # Products: some SKU in stock; deals: still on sale.
    available: bool = True
    original_value_minor: int | None = None


@dataclass
class SaleCard:
    """A flash sale as a room shows it: its terms, the units left, its status by the clock."""

    sale_id: str
    product_id: str
    sku_id: str
    title: str
    sku_name: str
    price_minor: int
    currency: str
    quantity: int
    remaining: int
    per_buyer_limit: int
    status: str
    starts_at: datetime
    ends_at: datetime
    ended_at: datetime | None = None

    @property
    def sold_out(self) -> bool:
        return self.status != "ended" and self.remaining == 0

    @property
    def buyable(self) -> bool:
        return self.status == "running" and self.remaining > 0


@dataclass
class DropCard:
    """A coupon drop as a room shows it: its offer and how many are claimed and left."""

    drop_id: str
    kind: str
    amount_off_minor: int
    percent_off: int
    currency: str
    min_spend_minor: int
    per_buyer_limit: int
    total: int
    claimed: int
    remaining: int
    valid_until: datetime
    status: str

    @property
    def claimable(self) -> bool:
        return self.status == "open" and self.remaining > 0


@dataclass
class Funnel:
    """The room's figures as the host watches them (live's funnel feed)."""

    views: int
    unique_viewers: int
    clicks: int
    carts: int
    orders: int
    paid_orders: int
    buyers: int
    coupons_claimed: int
    # (currency, gross paid in minor units), one per currency sold in.
    takings: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class RoomScreen:
    """What a room's page shows, as of feed event `seq`: the room, viewers, the pinned entry, the bag, the sales and
    drops (oldest first), and for its host the funnel."""

    room_id: str
    title: str
    cover_url: str | None
    host_id: str
    merchant_id: str
    status: str
    scheduled_start_at: datetime | None
    viewers: int
    seq: int
    pinned: BagEntry | None = None
    bag: list[BagEntry] = field(default_factory=list)
    sales: list[SaleCard] = field(default_factory=list)
    drops: list[DropCard] = field(default_factory=list)
    funnel: Funnel | None = None

    def sale(self, sale_id: str) -> SaleCard | None:
        return next((s for s in self.sales if s.sale_id == sale_id), None)

    def drop(self, drop_id: str) -> DropCard | None:
        return next((d for d in self.drops if d.drop_id == drop_id), None)


@dataclass(frozen=True)
class Part:
    """A part of a live page that an event changed: `name` (`sales`, `sale`, ...), `item` for one sale's or drop's.

    Its SSE event name is what the page's `sse-swap` listens for: `sales`, `sale-<id>`.
    """

    name: str
    item: str | None = None

    @property
    def event(self) -> str:
        return self.name if self.item is None else f"{self.name}-{self.item}"


@dataclass
class Update:
    """The screen after a feed event, and the parts of the page it changed (none: a keep-alive)."""

    screen: RoomScreen | None
    parts: list[Part]


@dataclass
class Form:
    """What was typed into a form, the API body made of it, what is wrong by form field ("" for the form as a whole),
    the status a refusal answers with, and a note once it went through."""

    values: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 200
    note: str = ""

    def value(self, name: str, default: str = "") -> str:
        return self.values.get(name, default)


@dataclass
class HostRoom:
    """One of the host's rooms in their list."""

    room_id: str
    title: str
    status: str
    cover_url: str | None
    scheduled_start_at: datetime | None
    concurrent_viewers: int


@dataclass
class HostRooms:
    """The host's console home: their rooms (live, scheduled, recently ended) and the new-room form."""

    rooms: list[HostRoom]
    form: Form


@dataclass
class Offer:
    """A product of the merchant the host may add to the bag."""

    product_id: str
    title: str
    min_price_minor: int
    max_price_minor: int
    currency: str
    in_stock: bool


@dataclass
class DealOffer:
    """A deal of the merchant (local_life) the host may add to the bag."""

    deal_id: str
    title: str
    price_minor: int
    currency: str


@dataclass
class Console:
    """The host console of one room: its screen, what may be added to the bag, the forms, the earlier sales."""

    screen: RoomScreen
    currency: str
    offers: list[Offer]
    sale_form: Form
    drop_form: Form
    bag_refusal: Refusal | None = None
    status_refusal: Refusal | None = None
    ended_sales: list[SaleCard] = field(default_factory=list)


@dataclass
class Purchase:
    """A buyer's Buy in a flash sale: admitted (the order to pay, by when) or refused in live's words."""

    sale_id: str
    order_id: str | None = None
    quantity: int = 0
    pay_by: datetime | None = None
    refusal: Refusal | None = None


@dataclass
class MyCoupon:
    """A coupon the buyer claimed in this room."""

    coupon_id: str
    kind: str
    amount_off_minor: int
    percent_off: int
    currency: str
    min_spend_minor: int
    valid_until: datetime


@dataclass
class Claim:
    """A buyer's claim of a drop's coupon: the coupon, or the refusal in live's words."""

    drop_id: str
    coupon: MyCoupon | None = None
    refusal: Refusal | None = None


@dataclass
class RoomPage:
    """The buyer's room page: the screen, the buyer's coupons of this room, outcomes of a form sent without HTMX."""

    screen: RoomScreen
    watching: bool = False
    coupons: list[MyCoupon] = field(default_factory=list)
    purchases: dict[str, Purchase] = field(default_factory=dict)
    claims: dict[str, Claim] = field(default_factory=dict)
