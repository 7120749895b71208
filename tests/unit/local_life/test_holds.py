"""Deal-hold rules: merging and checking the items, pricing, room left, and the answer to a repeated reserve."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import ReservedDeal, ReserveDealItem
from services.local_life.domain.holds import (
    MAX_QUANTITY,
    DealFacts,
    HoldRefused,
    StoredHolds,
    WantedDeal,
    check_room,
    merge_items,
    price,
    replay,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)
A = str(uuid.UUID(int=1))
B = str(uuid.UUID(int=2))


def facts(deal_id: str = A, **fields: object) -> DealFacts:
    base: dict = dict(
        deal_id=deal_id,
        merchant_id=str(uuid.UUID(int=9)),
        title="Hotpot",
        price_minor=9900,
        currency="CNY",
        status="published",
        total_quantity=None,
        sold=0,
        per_buyer_limit=None,
    )
    return DealFacts(**(base | fields))


def refused(call, *args) -> HoldRefused:
    with pytest.raises(HoldRefused) as caught:
        call(*args)
    return caught.value


def test_repeats_of_a_deal_merge_at_their_first_index_in_canonical_form() -> None:
    items = [
        ReserveDealItem(deal_id=A.upper(), quantity=1),
        ReserveDealItem(deal_id=B, quantity=2, room_id="r"),
        ReserveDealItem(deal_id=A, quantity=3, room_id="r2"),
    ]
    assert merge_items(items) == [WantedDeal(A, 4, 0, "r2"), WantedDeal(B, 2, 1, "r")]


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1])
def test_quantity_out_of_range_is_refused_with_its_index(quantity: int) -> None:
    items = [ReserveDealItem(deal_id=A, quantity=1), ReserveDealItem(deal_id=B, quantity=quantity)]
    error = refused(merge_items, items)
    assert (error.error, error.item_index) == ("invalid_quantity", 1)


def test_a_malformed_deal_id_is_an_unknown_deal_and_no_items_is_invalid() -> None:
    error = refused(merge_items, [ReserveDealItem(deal_id="nope", quantity=1)])
    assert (error.error, error.item_index) == ("unknown_deal", 0)
    assert refused(merge_items, []).error == "invalid_request"


def test_pricing_refuses_drafts_unknown_deals_and_a_second_currency() -> None:
    wanted = [WantedDeal(A, 1, 0, None), WantedDeal(B, 1, 1, None)]
    assert refused(price, wanted, {A: facts()}).item_index == 1
    assert refused(price, wanted, {A: facts(), B: facts(B, status="ended")}).error == "unknown_deal"
    mixed = refused(price, wanted, {A: facts(), B: facts(B, currency="USD")})
    assert (mixed.error, mixed.item_index) == ("mixed_currency", 1)
    lines = price(wanted, {A: facts(), B: facts(B, price_minor=500)})
    assert [(line.deal_id, line.unit_price_minor) for line in lines] == [(A, 9900), (B, 500)]


def test_room_left_against_the_total_and_the_buyers_limit() -> None:
    want = WantedDeal(A, 2, 3, None)
    check_room(want, facts(total_quantity=5, sold=3), 0)
    sold_out = refused(check_room, want, facts(total_quantity=5, sold=4), 0)
    assert (sold_out.error, sold_out.item_index, sold_out.available) == ("sold_out", 3, 1)
    check_room(want, facts(per_buyer_limit=3), 1)
    limit = refused(check_room, want, facts(per_buyer_limit=3), 2)
    assert (limit.error, limit.limit, limit.held) == ("buyer_limit", 3, 2)


def stored_holds(*statuses: str, hold_until: datetime = NOW + timedelta(minutes=5)) -> StoredHolds:
    line = ReservedDeal(
        deal_id=A, merchant_id=str(uuid.UUID(int=9)), title="Hotpot", quantity=2, unit_price_minor=9900, currency="CNY"
    )
    return StoredHolds(buyer_id="ann", hold_until=hold_until, lines=[line], statuses=list(statuses))


def test_replay_answers_the_held_or_paid_lines_again() -> None:
    wanted = [WantedDeal(A, 2, 0, None)]
    for status in ("held", "committed"):
        reply = replay(stored_holds(status), "c", "ann", wanted, NOW)
        assert reply.ok
        assert reply.lines == stored_holds().lines


def test_replay_with_other_items_or_by_another_buyer_conflicts() -> None:
    assert replay(stored_holds("held"), "c", "ann", [WantedDeal(A, 3, 0, None)], NOW).error == "checkout_conflict"
    assert replay(stored_holds("held"), "c", "bob", [WantedDeal(A, 2, 0, None)], NOW).error == "checkout_conflict"


def test_replay_of_a_released_or_lapsing_hold_is_expired() -> None:
    wanted = [WantedDeal(A, 2, 0, None)]
    assert replay(stored_holds("released"), "c", "ann", wanted, NOW).error == "expired"
    assert replay(stored_holds("held", hold_until=NOW), "c", "ann", wanted, NOW).error == "expired"
