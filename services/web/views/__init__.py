"""What the templates get: plain data, made by the use cases from the services' answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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
class TodayPage:
    """The seller's Today: takings since midnight UTC, orders to ship, cases due soonest."""

    gmv_today: dict[str, int]
    to_ship: list[ToShip]
    more_to_ship: bool
    cases: list[CaseDue]
    now: datetime


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


@dataclass
class CounterPage:
    """The clerk counter: the store, and the step the clerk is at (offered vouchers, outcomes, an undo, a refusal)."""

    store: str
    code: str = ""
    verify_token: str | None = None
    per_visit_limit: int | None = None
    offered: list[dict[str, Any]] = field(default_factory=list)
    redeemed: list[Redeemed] = field(default_factory=list)
    undone: str | None = None
    refusal: Refusal | None = None
