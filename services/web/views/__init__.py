"""What the templates get: plain data, made by the use cases from the services' answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class SignedIn:
    """The signed-in user as the session holds them; the token goes to the APIs, never to a page."""

    sub: str
    role: str
    token: str
    merchant_id: str | None = None
    store_id: str | None = None


@dataclass(frozen=True)
class DemoUser:
    """One choice on the dev sign-in page."""

    role: str
    sub: str
    available: bool


@dataclass
class ToShip:
    order_id: str
    amount_minor: int
    currency: str
    units: int
    ship_by: datetime | None
    late: bool


@dataclass
class CaseDue:
    case_id: str
    order_id: str
    kind: str
    status: str
    next_action: str | None
    deadline: datetime | None


@dataclass
class RoomToday:
    """A room live now or ended today, with its viewers and paid orders (live's room stats)."""

    room_id: str
    title: str
    status: str
    host_id: str
    started_at: datetime | None
    ended_at: datetime | None
    concurrent_viewers: int
    unique_viewers: int
    paid_orders: int
    paid_amount_minor: int
    currency: str | None


@dataclass
class TodayPage:
    """The seller's Today: takings since midnight UTC, orders to ship, cases due soonest, the live rooms of today."""

    gmv_today: dict[str, int]
    to_ship: list[ToShip]
    more_to_ship: bool
    cases: list[CaseDue]
    now: datetime
    live_rooms: list[RoomToday] = field(default_factory=list)


@dataclass
class ProductRow:
    product_id: str
    title: str
    status: str
    skus: int
    stock_available: int
    prices: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class ProductPage:
    """One product of the merchant's with its SKUs' stock, as shop answered it."""

    product: dict[str, Any]


@dataclass(frozen=True)
class Refusal:
    """An API's refusal a page shows as the API worded it (`detail`), with the status the page answers."""

    status: int
    detail: str
    code: str


@dataclass(frozen=True)
class Redeemed:
    """One chosen voucher's outcome at the counter: `redeemed` (with its redemption, to undo) or `already-redeemed`."""

    voucher_id: str
    outcome: str
    redemption_id: str | None
    masked_code: str | None = None  # as today's list shows it (the verify answer names the voucher only)


@dataclass(frozen=True)
class CounterRedemption:
    """One redemption at the clerk's store today, its times on the store's clock; `undoable_until` is local_life's
    (None once it can no longer be undone)."""

    redemption_id: str
    voucher_id: str
    masked_code: str
    deal_title: str
    clerk_id: str
    redeemed_at: datetime
    undone_at: datetime | None
    undoable_until: datetime | None


@dataclass
class CounterDay:
    """The store's redemptions of one of its days (today), newest first."""

    day: date
    timezone: str
    items: list[CounterRedemption]
    more: bool = False


@dataclass
class CounterPage:
    """The clerk counter: the store, and the step the clerk is at (offered vouchers, outcomes, an undo, a refusal),
    with the store's redemptions of today."""

    store: str
    code: str = ""
    verify_token: str | None = None
    per_visit_limit: int | None = None
    offered: list[dict[str, Any]] = field(default_factory=list)
    redeemed: list[Redeemed] = field(default_factory=list)
    undone: str | None = None
    refusal: Refusal | None = None
    today: CounterDay | None = None
