"""Team buys (拼团): who may take a seat, which seat, what a member's payment does, and what a failed team asks back.

A deal with `team_size` N sells in teams of N seats. A checkout opens a team (no team id) or joins one; the seat is
held with the checkout's deal hold. Paid seats wait: the N-th paid seat fills the team and every member's vouchers are
issued at once. A team still open at its deadline fails: every paid member is refunded in full, nothing is issued.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from libs.contracts import DealRefundRequested, RefundUnits, TeamMember
from libs.errors import NotFound
from libs.ids import derived_id
from services.local_life.domain.holds import HoldRefused, WantedDeal
from services.local_life.domain.vouchers import DealForIssue, LineIssue, validity

REFUND_REASON = "team_failed"


class TeamNotFound(NotFound):
    code = "team-not-found"

    def __init__(self, detail: str = "no such team") -> None:
        super().__init__(detail)


@dataclass(frozen=True)
class Team:
    """A team as stored (read under its row lock where it is changed)."""

    team_id: str
    deal_id: str
    merchant_id: str
    team_size: int
    opened_at: datetime
    deadline: datetime
    status: str  # open | filled | failed


@dataclass(frozen=True)
class Seat:
    """A checkout's seat in a team, with its paid line once paid."""

    team_id: str
    seat_no: int
    checkout_id: str
    deal_id: str
    buyer_id: str
    quantity: int
    status: str  # held | paid | released
    order_id: str | None = None
    line_no: int | None = None
    amount_minor: int | None = None
    currency: str | None = None
    room_id: str | None = None
    flash_sale_id: str | None = None
    paid_at: datetime | None = None
    refund_grant_id: str | None = None


@dataclass(frozen=True)
class PaidLine:
    """What an OrderPaid says of a team deal's line: enough to issue its vouchers later, or to refund it."""

    order_id: str
    line_no: int
    quantity: int
    amount_minor: int
    currency: str
    room_id: str | None
    flash_sale_id: str | None
    paid_at: datetime


def team_id_for(checkout_id: str, deal_id: str) -> str:
    """The team a checkout opens on a deal: the same on every retry of that reserve."""
    return derived_id("local_life.team", checkout_id, deal_id)


def deadline_of(opened_at: datetime, team_window_s: int) -> datetime:
    return opened_at + timedelta(seconds=team_window_s)


def refund_grant_id(team_id: str, order_id: str) -> str:
    """The grant a member's team-failed refund is asked under: one per team and member order, however often asked."""
    return derived_id(team_id, order_id, REFUND_REASON)


def check_joinable(want: WantedDeal, team: Team | None, now: datetime) -> Team:
    """The team the item names is an open team of the item's deal, before its deadline."""
    if team is None or team.deal_id != want.deal_id:
        raise HoldRefused(
            "unknown_team", f"items[{want.index}]: no team {want.team_id} of deal {want.deal_id}", want.index
        )
    if team.status != "open" or now >= team.deadline:
        state = team.status if team.status != "open" else "past its deadline"
        raise HoldRefused("team_closed", f"items[{want.index}]: team {team.team_id} is {state}", want.index)
    return team


def free_seat(want: WantedDeal, team: Team, live: Iterable[tuple[int, str]], buyer_id: str) -> int:
    """The smallest seat number no live seat has; `live` is (seat_no, buyer_id) of the held and paid seats.

    A buyer holds at most one seat per team: a second is refused as `team_full` (no seat for this buyer), not a
    code of its own, so orders and clients need nothing new; the detail says why."""
    taken: dict[int, str] = dict(live)
    if buyer_id in taken.values():
        raise HoldRefused(
            "team_full",
            f"items[{want.index}]: buyer {buyer_id} already has a seat in team {team.team_id}",
            want.index,
            available=0,
        )
    seat = first_free(taken, team.team_size)
    if seat is None:
        raise HoldRefused(
            "team_full",
            f"items[{want.index}]: all {team.team_size} seats of team {team.team_id} are taken",
            want.index,
            available=0,
        )
    return seat


def first_free(taken: Iterable[int], team_size: int) -> int | None:
    used = set(taken)
    return next((n for n in range(1, team_size + 1) if n not in used), None)


class Payment(Enum):
    """What a member's payment does to its seat."""

    ALREADY = "already"  # this order's payment was applied before (a redelivery)
    SEAT = "seat"  # the seat is paid (the held one, or a free one for a lapsed seat)
    REFUND = "refund"  # no seat for it (the team filled or failed, or every seat is taken): refund the member


def on_payment(team: Team, seat: Seat, free: int | None) -> Payment:
    """The decision for a payment arriving for `seat` of an open, filled or failed team (a team past its deadline is
    failed first); `free` is the smallest free seat number of the team, for a seat that lapsed meanwhile."""
    if seat.order_id is not None:
        # A seat is one checkout's, paid by one order: this payment was applied before.
        return Payment.ALREADY
    if team.status != "open":
        return Payment.REFUND
    if seat.status == "held":
        return Payment.SEAT
    return Payment.SEAT if free is not None else Payment.REFUND


def member(seat: Seat) -> TeamMember:
    assert seat.order_id is not None
    assert seat.line_no is not None
    return TeamMember(
        order_id=seat.order_id,
        line_no=seat.line_no,
        buyer_id=seat.buyer_id,
        quantity=seat.quantity,
        seat_no=seat.seat_no,
    )


def refund_request(team: Team, seat: Seat, now: datetime) -> DealRefundRequested:
    """Ask orders to give a member everything back: the whole line, no vouchers (none were issued)."""
    assert seat.order_id is not None
    assert seat.line_no is not None
    return DealRefundRequested(
        grant_id=refund_grant_id(team.team_id, seat.order_id),
        reason=REFUND_REASON,
        order_id=seat.order_id,
        buyer_id=seat.buyer_id,
        merchant_id=team.merchant_id,
        deal_id=team.deal_id,
        lines=[RefundUnits(line_no=seat.line_no, quantity=seat.quantity)],
        voucher_ids=[],
        team_id=team.team_id,
        occurred_at=now,
    )


def line_issue(seat: Seat, deal: DealForIssue, filled_at: datetime) -> LineIssue:
    """A paid seat's vouchers, issued when the team filled: a `valid_days` validity counts from the filling payment,
    so no member loses the days the team took to fill."""
    assert seat.line_no is not None
    assert seat.paid_at is not None
    valid_from, valid_until = validity(deal, max(filled_at, seat.paid_at))
    return LineIssue(
        line_no=seat.line_no,
        deal_id=deal.deal_id,
        count=seat.quantity * deal.vouchers_per_purchase,
        valid_from=valid_from,
        valid_until=valid_until,
        room_id=seat.room_id,
        flash_sale_id=seat.flash_sale_id,
        per_unit=deal.vouchers_per_purchase,
        amount_minor=seat.amount_minor or 0,
        currency=seat.currency,
    )
