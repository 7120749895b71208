"""Money given back exactly once: what a refund grant's units cost the buyer, and whether orders may accept it.

Pure: the order's lines with their quantity ledger and what earlier grants already took come in, a plan goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.orders.domain.ledger import refundable_units

REFUND_GRANT_JOB = "refund_grant"

# A Stripe refund still `pending` (or waiting on an action) is looked at again this often (seconds).
REFUND_PENDING_RECHECK_S = 60


class GrantOrigin(StrEnum):
    # An after-sales case's decision (aftersales.refund.granted.v1).
    CASE = "case"
    # The buyer cancelled paid units before they shipped.
    CANCEL = "cancel"
    # local_life asked: vouchers refunded before use, unused at expiry, or a team buy that did not fill.
    LOCAL_LIFE = "local_life"


class GrantStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class GrantRefusal(StrEnum):
    """Why orders refuses a grant before any money moves (RefundFailed.reason, refused_grants.reason)."""

    # A line would pass its refundable units (shipped + cancelled - already requested), names no line of the
    # order, or asks for fewer than one unit.
    OVER_REFUNDABLE = "over-refundable"
    # The order's pending and succeeded grants and this one would give back more than the order captured.
    OVER_CAPTURED = "over-captured"
    # local_life asked for units that are not its deal's: a line of another deal or of goods, or an order of another
    # merchant than the deal's.
    NOT_THE_DEAL = "not-the-deal"


# RefundFailed.reason prefixes of a grant Stripe would not pay: `stripe-refused: <code>` (a 4xx answer, given up
# after refund_max_attempts), `stripe-failed: <reason>` / `stripe-canceled: <reason>` (the refund's own status).
STRIPE_REFUSED = "stripe-refused"
STRIPE_FAILED = "stripe-failed"
STRIPE_CANCELED = "stripe-canceled"


@dataclass(frozen=True)
class LedgerLine:
    """One order line as a grant sees it: its price, its discount and what happened to its units."""

    line_no: int
    quantity: int
    unit_price_minor: int
    discount_minor: int
    shipped_qty: int
    cancelled_qty: int
    # Units in pending or succeeded grants.
    refund_requested_qty: int
    # What those grants give back for this line (pending + succeeded grant lines' amounts).
    granted_amount_minor: int = 0
    # Set on a line buying a local-life deal: the deal (its units are refundable from payment on, never shipped).
    deal_id: str | None = None

    @property
    def refundable(self) -> int:
        """Shipped or cancelled units not yet in a grant (the ledger's one rule for it; every paid unit of a deal)."""
        return refundable_units(
            self.shipped_qty,
            self.cancelled_qty,
            self.refund_requested_qty,
            deal_quantity=self.quantity if self.deal_id else None,
        )


@dataclass(frozen=True)
class PlannedLine:
    line_no: int
    quantity: int
    amount_minor: int


@dataclass(frozen=True)
class GrantPlan:
    """A grant accepted (`refusal` None: its lines and amount) or refused (why; nothing is planned)."""

    lines: tuple[PlannedLine, ...] = ()
    refusal: GrantRefusal | None = None

    @property
    def amount_minor(self) -> int:
        return sum(line.amount_minor for line in self.lines)


def discount_share(discount_minor: int, quantity: int, units: int) -> int:
    """The discount carried by the first `units` of a line of `quantity` units: ⌊D·units/Q⌋ (cumulative, so the
    shares of all Q units add up to exactly D)."""
    return discount_minor * units // quantity


def units_amount(unit_price_minor: int, discount_minor: int, quantity: int, granted: int, more: int) -> int:
    """What `more` units of a line cost the buyer when `granted` units of it are already in grants:
    more·unit - (⌊D·(granted+more)/Q⌋ - ⌊D·granted/Q⌋)."""
    return more * unit_price_minor - (
        discount_share(discount_minor, quantity, granted + more) - discount_share(discount_minor, quantity, granted)
    )


def line_amount_after(line: LedgerLine, more: int) -> int:
    """What `more` units of the line give back: the cumulative price of every unit then in grants, less what the
    line's pending and succeeded grants already give back.

    While no grant of the line has failed this is `units_amount(...)` exactly; after one failed (its units handed
    back out of order), it still makes the line's grants add up to exactly its amount once all its units are in.
    """
    total = line.refund_requested_qty + more
    price = total * line.unit_price_minor - discount_share(line.discount_minor, line.quantity, total)
    return price - line.granted_amount_minor


def plan_grant(
    ledger: Mapping[int, LedgerLine],
    asked: Sequence[tuple[int, int]],
    *,
    captured_minor: int,
    granted_minor: int,
) -> GrantPlan:
    """Price a grant of `asked` (line_no, quantity) against the order's ledger and cap.

    `captured_minor`: what the order took (its amount once paid, else 0); `granted_minor`: the amount of its pending
    and succeeded grants. Refused `over-refundable` if a line is unknown, asked twice, asked for < 1 unit or for more
    than its refundable units; `over-captured` if the order would give back more than it took.
    """
    if not asked:
        return GrantPlan(refusal=GrantRefusal.OVER_REFUNDABLE)
    planned: list[PlannedLine] = []
    seen: set[int] = set()
    for line_no, quantity in asked:
        line = ledger.get(line_no)
        if line is None or line_no in seen or quantity < 1 or quantity > line.refundable:
            return GrantPlan(refusal=GrantRefusal.OVER_REFUNDABLE)
        seen.add(line_no)
        planned.append(PlannedLine(line_no, quantity, line_amount_after(line, quantity)))
    plan = GrantPlan(lines=tuple(planned))
    if plan.amount_minor <= 0 or granted_minor + plan.amount_minor > captured_minor:
        # Nothing to give back (free units) is no refund Stripe would make either.
        return GrantPlan(refusal=GrantRefusal.OVER_CAPTURED)
    return plan


@dataclass(frozen=True)
class DealScope:
    """What a grant local_life asks for may name: lines of this deal, in an order of this merchant."""

    deal_id: str
    merchant_id: str


def deal_scope_refusal(
    ledger: Mapping[int, LedgerLine], asked: Sequence[tuple[int, int]], order_merchant_id: str, scope: DealScope
) -> GrantRefusal | None:
    """NOT_THE_DEAL when the order is another merchant's or an asked line is not a line of the scope's deal (ids
    compared case-blind); None when the grant may go on to be priced and capped as any other."""
    if order_merchant_id.lower() != scope.merchant_id.lower():
        return GrantRefusal.NOT_THE_DEAL
    for line_no, _ in asked:
        line = ledger.get(line_no)
        if line is None or line.deal_id is None or line.deal_id.lower() != scope.deal_id.lower():
            return GrantRefusal.NOT_THE_DEAL
    return None


def stripe_refusal_reason(code: str | None, message: str | None) -> str:
    """RefundFailed.reason of a grant Stripe kept refusing."""
    return f"{STRIPE_REFUSED}: {code or message or 'refused'}"[:500]


def stripe_outcome_reason(status: str, failure_reason: str | None) -> str:
    """RefundFailed.reason of a refund Stripe failed or cancelled."""
    prefix = STRIPE_CANCELED if status == "canceled" else STRIPE_FAILED
    return f"{prefix}: {failure_reason or status}"[:500]


__all__ = [
    "REFUND_GRANT_JOB",
    "REFUND_PENDING_RECHECK_S",
    "STRIPE_CANCELED",
    "STRIPE_FAILED",
    "STRIPE_REFUSED",
    "DealScope",
    "GrantOrigin",
    "GrantPlan",
    "GrantRefusal",
    "GrantStatus",
    "LedgerLine",
    "PlannedLine",
    "deal_scope_refusal",
    "discount_share",
    "line_amount_after",
    "plan_grant",
    "stripe_outcome_reason",
    "stripe_refusal_reason",
]
