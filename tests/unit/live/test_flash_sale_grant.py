"""Who gets the units of one admission batch: the pure grant function, checked on generated batches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.live.flash_sales.domain import (
    GRANTED,
    KEY_REUSED,
    LIMIT_REACHED,
    REPLAY,
    SOLD_OUT,
    Ask,
    grant,
)

buyers = st.sampled_from([f"buyer-{i}" for i in range(8)])
keys = st.sampled_from([f"key-{i}" for i in range(4)])


@st.composite
def batches(draw):
    limit = draw(st.integers(min_value=1, max_value=4))
    asks = draw(
        st.lists(
            st.builds(Ask, buyers, keys, st.integers(min_value=1, max_value=limit)),
            max_size=40,
        )
    )
    remaining = draw(st.integers(min_value=0, max_value=30))
    held = draw(st.dictionaries(buyers, st.integers(min_value=0, max_value=limit)))
    prior_pairs = draw(st.sets(st.tuples(buyers, keys), max_size=4))
    prior = {pair: draw(st.integers(min_value=1, max_value=limit)) for pair in prior_pairs}
    return asks, remaining, limit, held, prior


@settings(max_examples=400)
@given(batches())
def test_a_batch_never_grants_more_than_remains_nor_more_than_a_buyers_limit(batch) -> None:
    asks, remaining, limit, held, prior = batch
    decisions, left = grant(asks, remaining=remaining, limit=limit, held=held, prior=prior)
    assert len(decisions) == len(asks)
    taken = [
        (ask, d) for ask, d in zip(asks, decisions, strict=True) if d.outcome == GRANTED and d.duplicate_of is None
    ]
    assert sum(d.quantity for _, d in taken) == remaining - left
    assert 0 <= left <= remaining
    for buyer in {a.buyer_id for a in asks}:
        got = sum(d.quantity for ask, d in taken if ask.buyer_id == buyer)
        assert got == 0 or held.get(buyer, 0) + got <= limit
    for ask, decision in taken:
        assert 1 <= decision.quantity <= ask.quantity


@settings(max_examples=400)
@given(batches())
def test_the_same_buyer_and_key_never_takes_units_twice(batch) -> None:
    asks, remaining, limit, held, prior = batch
    decisions, _ = grant(asks, remaining=remaining, limit=limit, held=held, prior=prior)
    pairs = [
        (a.buyer_id, a.key)
        for a, d in zip(asks, decisions, strict=True)
        if d.outcome == GRANTED and d.duplicate_of is None
    ]
    assert len(pairs) == len(set(pairs))
    for ask, decision in zip(asks, decisions, strict=True):
        pair = (ask.buyer_id, ask.key)
        if pair in prior:
            assert decision.outcome == (REPLAY if prior[pair] == ask.quantity else KEY_REUSED)
        if decision.duplicate_of is not None:
            first = decisions[decision.duplicate_of]
            assert (asks[decision.duplicate_of].buyer_id, asks[decision.duplicate_of].key) == pair
            assert (decision.outcome, decision.quantity) == (first.outcome, first.quantity)


@settings(max_examples=400)
@given(batches())
def test_units_go_in_arrival_order_and_nobody_is_refused_while_units_remain(batch) -> None:
    asks, remaining, limit, held, prior = batch
    decisions, left = grant(asks, remaining=remaining, limit=limit, held=held, prior=prior)
    # Replay the batch by hand: a fresh ask is refused as sold out exactly when nothing is left at its turn,
    # and as over the limit exactly when the buyer's units plus the ask would pass the limit.
    stock, holding, seen = remaining, dict(held), set()
    for ask, decision in zip(asks, decisions, strict=True):
        pair = (ask.buyer_id, ask.key)
        if pair in prior or pair in seen:
            continue
        seen.add(pair)
        have = holding.get(ask.buyer_id, 0)
        if stock == 0:
            assert decision.outcome == SOLD_OUT
        elif have + ask.quantity > limit:
            assert decision.outcome == LIMIT_REACHED
        else:
            assert decision.outcome == GRANTED
            assert decision.quantity == min(ask.quantity, stock)
            stock -= decision.quantity
            holding[ask.buyer_id] = have + decision.quantity
    assert stock == left
    if any(d.outcome == SOLD_OUT for d in decisions):
        assert left == 0


@given(batches(), st.sampled_from(["room-not-live", "sale-ended"]))
def test_a_closed_sale_grants_nothing_but_still_replays(batch, reason) -> None:
    asks, remaining, limit, held, prior = batch
    decisions, left = grant(asks, remaining=remaining, limit=limit, held=held, prior=prior, closed=reason)
    assert left == remaining
    for ask, decision in zip(asks, decisions, strict=True):
        assert decision.outcome != GRANTED
        if (ask.buyer_id, ask.key) not in prior and decision.outcome != KEY_REUSED:
            assert decision.outcome == reason


def test_hundred_units_among_many_eager_buyers_go_one_each_to_the_first_hundred() -> None:
    asks = [Ask(f"buyer-{i % 500}", f"k-{i}", 1) for i in range(2000)]
    decisions, left = grant(asks, remaining=100, limit=1, held={}, prior={})
    winners = [a.buyer_id for a, d in zip(asks, decisions, strict=True) if d.outcome == GRANTED]
    assert left == 0
    assert winners == [f"buyer-{i}" for i in range(100)]
    assert {d.outcome for d in decisions[100:]} <= {SOLD_OUT, LIMIT_REACHED}


def test_a_buyer_asking_past_the_stock_gets_what_is_left_but_never_past_the_limit() -> None:
    decisions, left = grant([Ask("a", "1", 3), Ask("b", "1", 2)], remaining=2, limit=3, held={"b": 2}, prior={})
    assert [(d.outcome, d.quantity) for d in decisions] == [(GRANTED, 2), (SOLD_OUT, 0)]
    assert left == 0
    decisions, _ = grant([Ask("b", "2", 2)], remaining=5, limit=3, held={"b": 2}, prior={})
    assert decisions[0].outcome == LIMIT_REACHED


def test_an_ask_for_no_units_is_a_bug_of_the_caller() -> None:
    with pytest.raises(ValueError, match="0 units"):
        grant([Ask("a", "1", 0)], remaining=1, limit=1, held={}, prior={})
