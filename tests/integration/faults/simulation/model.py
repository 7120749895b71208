"""The model: what the APIs answered about each purchase, voucher and case (and what was last read of them), the
status graphs they may move along, and the report of a run."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PAID = "paid"
# Order statuses, and where each may go (docs/ARCHITECTURE.md "Orders and payments: states", "Orders: fulfilment").
_NEXT = {
    "awaiting_payment": {"paid", "cancelled"},
    "paid": {"partially_shipped", "shipped", "cancelled"},
    "partially_shipped": {"partially_shipped", "shipped"},
    "shipped": {"delivered", "completed"},
    "delivered": {"completed"},
    "completed": set(),
    "cancelled": set(),
}
# Voucher statuses (local_life "Vouchers and redemption"): a redemption can be undone, a failed refund gives the
# voucher back; refunded is final.
_VOUCHER_NEXT = {
    "unused": {"redeemed", "refund_pending", "refunded", "expired"},
    "redeemed": {"unused"},
    "refund_pending": {"refunded", "unused"},
    "expired": {"refund_pending", "refunded"},
    "refunded": set(),
}
CASE_FINAL = {"refunded", "exchanged", "closed", "cancelled"}


def _closure(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Every status reachable from each status (itself included)."""
    reach = {status: {status} for status in graph}
    changed = True
    while changed:
        changed = False
        for seen in reach.values():
            more = set().union(*(graph[s] for s in seen)) - seen
            if more:
                seen |= more
                changed = True
    return reach


ORDER_REACH = _closure(_NEXT)
VOUCHER_REACH = _closure(_VOUCHER_NEXT)


class SimulationFailed(AssertionError):
    """A promise the model checks was broken, or a service answered what no user should see."""


@dataclass
class Line:
    line_no: int
    kind: str  # goods | deal
    ref: str  # the sku_id or deal_id
    quantity: int
    unit_price_minor: int

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor


@dataclass
class Purchase:
    """A checkout of the one merchant: one order. What the sim was told about it, and what it last read."""

    at: tuple[int, int]  # the plan's move that placed it: the model's order is the plan's, whoever answered first
    buyer: int
    checkout_id: str
    order_id: str
    payment_id: str
    amount_minor: int
    lines: list[Line]
    # Whether money was taken, as far as confirms answered: "yes" (202 succeeded), "maybe" (a confirm died on the
    # way: Stripe may have charged), or "no" (only declines and refusals).
    charged: str = "no"
    shipped: bool = False  # a shipment answered 201
    cancelled: bool = False  # the buyer's cancel answered 200
    status: str = "awaiting_payment"
    paid: bool = False  # paid_at, as last read
    refunded_minor: int = 0
    # Confirms in flight, and those that overlapped another (see `Actions._pay`).
    confirming: set[object] = field(default_factory=set)
    raced: set[object] = field(default_factory=set)

    def goods(self) -> list[Line]:
        return [line for line in self.lines if line.kind == "goods"]

    def deals(self) -> list[Line]:
        return [line for line in self.lines if line.kind == "deal"]

    def label(self) -> str:
        return f"p{self.at[0]}.{self.at[1]}"


@dataclass
class Voucher:
    voucher_id: str
    code: str
    purchase: Purchase
    line_no: int
    status: str = "unused"  # last read
    # The sim's own view: a live redemption it made (not undone), and whether it asked for the refund.
    redemption_id: str | None = None
    refund_asked: bool = False


@dataclass
class Case:
    at: tuple[int, int]
    case_id: str
    purchase: Purchase
    line: Line
    units: int
    status: str = "requested"

    def label(self) -> str:
        return f"c{self.at[0]}.{self.at[1]}"


@dataclass
class Report:
    """What one seed did: for the test's output and docs/RELIABILITY.md."""

    seed: int
    steps: int
    seconds: float = 0.0
    actions: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    faults_armed: Counter = field(default_factory=Counter)
    faults_fired: Counter = field(default_factory=Counter)
    retried_5xx: int = 0
    confirm_races: int = 0
    purchases: int = 0
    paid: int = 0
    expired: int = 0
    vouchers: int = 0
    cases: int = 0
    invariants: str = ""
    trace: list[str] = field(default_factory=list)

    def summary(self) -> str:
        fired = ", ".join(f"{p}x{n}" for p, n in sorted(self.faults_fired.items())) or "none"
        return (
            f"seed {self.seed}: {self.steps} steps in {self.seconds:.1f}s, {sum(self.actions.values())} actions, "
            f"{self.purchases} checkouts ({self.paid} paid, {self.expired} expired), {self.vouchers} vouchers, "
            f"{self.cases} cases; faults armed {sum(self.faults_armed.values())}, fired {fired}; "
            f"{self.retried_5xx} requests answered 5xx and were sent again; {self.confirm_races} racing confirms "
            f"answered 400/402; invariants: {self.invariants or '-'}"
        )


class Model:
    """Everything the simulation knows of its world's purchases, vouchers and cases, fed only by what the APIs
    answered; the violations the last reads found; the report it counts into."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.purchases: list[Purchase] = []
        self.vouchers: dict[str, Voucher] = {}
        self.cases: list[Case] = []
        self.violations: list[str] = []

    def payable(self) -> list[Purchase]:
        return [p for p in self.purchases if p.status == "awaiting_payment" and p.charged != "yes"]

    def usable(self) -> list[Voucher]:
        return [
            v for v in self.vouchers.values() if v.status == "unused" and not v.refund_asked and not v.redemption_id
        ]

    def case_units_left(self, purchase: Purchase, line: Line) -> int:
        asked = sum(c.units for c in self.cases if c.purchase is purchase and c.line.line_no == line.line_no)
        return line.quantity - asked

    def vlabel(self, voucher: Voucher) -> str:
        return f"v{list(self.vouchers).index(voucher.voucher_id)}({voucher.purchase.label()})"
