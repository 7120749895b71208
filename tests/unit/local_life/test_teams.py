"""Team-buy rules: which team and seat a checkout gets, what a member's payment does, what a failed team asks back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import ReservedDeal, ReserveDealItem
from services.local_life.domain.holds import DealFacts, HoldRefused, StoredHolds, WantedDeal, merge_items, price, replay
from services.local_life.domain.teams import (
    Payment,
    Seat,
    Team,
    check_joinable,
    first_free,
    free_seat,
    line_issue,
    on_payment,
    refund_grant_id,
    refund_request,
    team_id_for,
)
from services.local_life.domain.vouchers import DealForIssue

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
DEAL = str(uuid.UUID(int=1))
OTHER = str(uuid.UUID(int=2))
TEAM = str(uuid.UUID(int=3))
ORDER = str(uuid.UUID(int=4))


def team(**fields: object) -> Team:
    base: dict = dict(
        team_id=TEAM,
        deal_id=DEAL,
        merchant_id=str(uuid.UUID(int=9)),
        team_size=3,
        opened_at=NOW,
        deadline=NOW + timedelta(hours=1),
        status="open",
    )
    return Team(**(base | fields))


def seat(**fields: object) -> Seat:
    base: dict = dict(team_id=TEAM, seat_no=2, checkout_id="c", deal_id=DEAL, buyer_id="ann", quantity=1, status="held")
    return Seat(**(base | fields))


def want(team_id: str | None = TEAM) -> WantedDeal:
    return WantedDeal(DEAL, 1, 0, None, team_id)


def refused(fn, *args: object) -> HoldRefused:
    with pytest.raises(HoldRefused) as caught:
        fn(*args)
    return caught.value


def test_a_retried_opening_names_the_same_team_and_another_checkout_another() -> None:
    assert team_id_for("checkout-1", DEAL) == team_id_for("checkout-1", DEAL)
    assert team_id_for("checkout-1", DEAL) != team_id_for("checkout-2", DEAL)
    assert team_id_for("checkout-1", DEAL) != team_id_for("checkout-1", OTHER)


def test_a_joiner_gets_the_smallest_free_seat() -> None:
    assert free_seat(want(), team(), [(1, "bob"), (3, "cat")], "ann") == 2
    assert first_free([], 3) == 1
    assert first_free([1, 2, 3], 3) is None


def test_a_full_team_and_a_buyer_already_seated_are_refused_as_team_full() -> None:
    full = refused(free_seat, want(), team(), [(1, "bob"), (2, "cat"), (3, "dan")], "ann")
    assert (full.error, full.available) == ("team_full", 0)
    again = refused(free_seat, want(), team(), [(1, "ann")], "ann")
    assert (again.error, again.available) == ("team_full", 0)
    assert "already has a seat" in again.detail


def test_only_an_open_team_of_the_same_deal_before_its_deadline_can_be_joined() -> None:
    assert check_joinable(want(), team(), NOW) == team()
    assert refused(check_joinable, want(), None, NOW).error == "unknown_team"
    assert refused(check_joinable, want(), team(deal_id=OTHER), NOW).error == "unknown_team"
    assert refused(check_joinable, want(), team(status="filled"), NOW).error == "team_closed"
    assert refused(check_joinable, want(), team(status="failed"), NOW).error == "team_closed"
    assert refused(check_joinable, want(), team(), NOW + timedelta(hours=1)).error == "team_closed"


def test_items_name_one_team_per_deal_and_only_team_deals_take_one() -> None:
    two = [
        ReserveDealItem(deal_id=DEAL, quantity=1, team_id=TEAM),
        ReserveDealItem(deal_id=DEAL, quantity=1, team_id=str(uuid.UUID(int=5))),
    ]
    assert refused(merge_items, two).error == "invalid_request"
    assert refused(merge_items, [ReserveDealItem(deal_id=DEAL, quantity=1, team_id="nope")]).error == "unknown_team"
    assert (
        merge_items(
            [ReserveDealItem(deal_id=DEAL, quantity=1), ReserveDealItem(deal_id=DEAL, quantity=1, team_id=TEAM)]
        )[0].team_id
        == TEAM
    )
    facts = DealFacts(
        deal_id=DEAL,
        merchant_id=str(uuid.UUID(int=9)),
        title="Hotpot",
        price_minor=9900,
        currency="CNY",
        status="published",
        total_quantity=None,
        sold=0,
        per_buyer_limit=None,
    )
    assert refused(price, [want()], {DEAL: facts}).error == "not_a_team_deal"
    [line] = price([want(None)], {DEAL: DealFacts(**{**facts.__dict__, "team_size": 2})})
    assert (line.team_id, line.team_size) == (None, 2)


def test_a_retry_naming_another_team_conflicts() -> None:
    line = ReservedDeal(
        deal_id=DEAL,
        merchant_id="m",
        title="t",
        quantity=1,
        unit_price_minor=1,
        currency="CNY",
        team_id=TEAM,
        team_size=2,
    )
    found = StoredHolds(buyer_id="ann", hold_until=NOW + timedelta(hours=1), lines=[line], statuses=["held"])
    assert replay(found, "c", "ann", [want(None)], NOW).ok
    assert replay(found, "c", "ann", [want(TEAM)], NOW).ok
    assert replay(found, "c", "ann", [want(str(uuid.UUID(int=5)))], NOW).error == "checkout_conflict"


def test_a_payment_pays_a_held_seat_or_a_free_one_else_is_refunded() -> None:
    assert on_payment(team(), seat(), None) is Payment.SEAT
    assert on_payment(team(), seat(status="released"), 3) is Payment.SEAT
    assert on_payment(team(), seat(status="released"), None) is Payment.REFUND
    assert on_payment(team(status="failed"), seat(status="released"), None) is Payment.REFUND
    assert on_payment(team(status="filled"), seat(status="released"), None) is Payment.REFUND
    assert on_payment(team(), seat(status="paid", order_id=ORDER), None) is Payment.ALREADY
    assert on_payment(team(status="failed"), seat(status="released", order_id=ORDER), None) is Payment.ALREADY


def test_a_failed_members_refund_is_the_whole_line_under_one_grant() -> None:
    member = seat(status="paid", order_id=ORDER, line_no=1, quantity=2)
    asked = refund_request(team(), member, NOW)
    assert asked.grant_id == refund_grant_id(TEAM, ORDER) == refund_request(team(), member, NOW).grant_id
    assert (asked.reason, asked.order_id, asked.buyer_id, asked.deal_id, asked.team_id) == (
        "team_failed",
        ORDER,
        "ann",
        DEAL,
        TEAM,
    )
    assert [(line.line_no, line.quantity) for line in asked.lines] == [(1, 2)]
    assert asked.voucher_ids == []
    assert refund_grant_id(TEAM, ORDER) != refund_grant_id(TEAM, str(uuid.UUID(int=6)))


def test_a_members_vouchers_count_validity_from_the_payment_that_filled_the_team() -> None:
    paid_at = NOW - timedelta(hours=5)
    member = seat(
        status="paid", order_id=ORDER, line_no=0, quantity=2, amount_minor=19800, currency="CNY", paid_at=paid_at
    )
    deal = DealForIssue(
        deal_id=DEAL, merchant_id="m", vouchers_per_purchase=3, valid_from=None, valid_until=None, valid_days=30
    )
    issue = line_issue(member, deal, NOW)
    assert (issue.count, issue.per_unit, issue.amount_minor, issue.currency) == (6, 3, 19800, "CNY")
    # The member paid 5 hours before the team filled: its 30 days start when the vouchers exist, not before.
    assert (issue.valid_from, issue.valid_until) == (NOW, NOW + timedelta(days=30))
