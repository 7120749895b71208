"""What the checkout, order, after-sales and arbitration pages get: the services' answers (times read) and what the
page adds to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.web.views import Refusal


@dataclass
class CheckoutProblem:
    """A checkout orders refused: its words, the item it names (when it names one) and where to go to fix it."""

    refusal: Refusal
    item: str | None
    back: str
    # The refusal is about a coupon (`coupon_ids[i]`), not an item.
    coupon: bool = False


@dataclass
class PaymentPanel:
    """Paying a checkout: where it stands (`payable`, `processing`, `failed`, `paid`, `expired`, `stalled`), where the
    pay form posts and where the panel looks again while a payment is being made."""

    checkout: dict[str, Any]
    state: str
    page_path: str
    pay_path: str
    poll_path: str
    methods: tuple[tuple[str, str], ...]
    now: datetime
    refusal: Refusal | None = None
    chosen: str = ""


@dataclass
class CheckoutPage:
    """A checkout (or a flash-sale order's) with its orders, lines, totals and the payment panel."""

    checkout: dict[str, Any]
    panel: PaymentPanel
    # A flash-sale admission's order paid on its own page: the order.
    order: dict[str, Any] | None = None


@dataclass
class OrderList:
    """One page of orders (newest first), with the status filter and the cursor of the next page."""

    items: list[dict[str, Any]]
    status: str
    next_cursor: str | None
    cursor: str | None
    statuses: tuple[str, ...]


@dataclass
class OrderPage:
    """An order with its timeline and the moves its reader may make (buyer or merchant)."""

    order: dict[str, Any]
    timeline: list[Any]
    cases: list[dict[str, Any]]
    now: datetime
    actions: Any = None
    refusal: Refusal | None = None
    # The merchant's ship form: each line left to ship, what was typed, errors by field, the form's key.
    ship_lines: list[dict[str, Any]] = field(default_factory=list)
    ship_values: dict[str, str] = field(default_factory=dict)
    ship_errors: dict[str, str] = field(default_factory=dict)
    key: str = ""


@dataclass
class CaseLineChoice:
    """A line of an order on the after-sales form: how many units a case may name (orders' ledger) and the SKUs an
    exchange may ask for instead."""

    line_no: int
    title: str
    sku_name: str
    sku_id: str
    quantity: int
    limit: int
    deal: bool
    skus: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CaseForm:
    """Opening an after-sales case on an order."""

    order: dict[str, Any]
    lines: list[CaseLineChoice]
    values: dict[str, str]
    errors: dict[str, str]
    key: str
    kinds: tuple[str, ...]
    reasons: tuple[str, ...]
    status: int = 200


@dataclass
class CaseList:
    items: list[dict[str, Any]]
    status: str
    next_cursor: str | None
    now: datetime
    statuses: tuple[str, ...] = ()


@dataclass
class CasePage:
    """A case as one of its three parties sees it: the case, its order's lines (titles), the currency of its money,
    the moves offered, what a refused move said."""

    case: dict[str, Any]
    lines: list[dict[str, Any]]
    currency: str | None
    moves: frozenset[str]
    now: datetime
    order: dict[str, Any] | None = None
    merchant_name: str | None = None
    refusal: Refusal | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
