"""Host tiers and customer segments against a hand-computed fixture: each expected tier and segment below was worked
out by hand from the figures next to it (docs/ARCHITECTURE.md, "Tiers"), including every threshold's edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.live.funnel.domain.tiers import (
    SEGMENTS,
    TIERS,
    Customer,
    CustomerHistory,
    HostFigures,
    HostTier,
    HostTierRules,
    InvalidCursor,
    SegmentRules,
    Threshold,
    UnknownSegment,
    customers_of,
    decode_customer_cursor,
    encode_customer_cursor,
    ensure_segment,
    gpm_minor,
    host_tier,
    host_window,
    next_daily_run,
    segment_counts,
    segment_of,
    tiers_of,
)

NOW = datetime(2026, 6, 30, 12, 0, 30, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
RULES = HostTierRules(
    currency="USD",
    s=Threshold(net_minor=1_000_000, gpm_minor=50_000),
    a=Threshold(net_minor=200_000, gpm_minor=20_000),
    b=Threshold(net_minor=20_000, gpm_minor=5_000),
)
SEGMENT_RULES = SegmentRules(loyal_orders=5, loyal_net_minor=50_000)

# host: (views, gross paid, refunded) -> net, GPM (gross * 1000 / views, rounded down), tier; worked out by hand.
HOSTS = {
    # 1,000,000 * 1000 / 20,000 = 50,000: both S thresholds exactly.
    "s-exact": ((20_000, 1_000_000, 0), 1_000_000, 50_000, "S"),
    # Net one short of S (999,999); GPM still 50,000 (gross-based): A.
    "s-net-short": ((20_000, 1_000_000, 1), 999_999, 50_000, "A"),
    # 1,000,000,000 / 20,001 = 49,997.5 -> 49,997: one view too many for S's GPM: A.
    "s-gpm-short": ((20_001, 1_000_000, 0), 1_000_000, 49_997, "A"),
    # 200,000 * 1000 / 10,000 = 20,000: both A thresholds exactly.
    "a-exact": ((10_000, 200_000, 0), 200_000, 20_000, "A"),
    # Net 30,000 - 10,000 = 20,000 (B's exactly); GPM 30,000 reaches A's but net does not: B.
    "b-exact-net": ((1_000, 30_000, 10_000), 20_000, 30_000, "B"),
    # 49,999,000 / 10,000 = 4,999.9 -> 4,999: under B's GPM: C.
    "c-gpm-short": ((10_000, 49_999, 0), 49_999, 4_999, "C"),
    # No views, no GPM: C whatever it sold.
    "c-no-views": ((0, 5_000_000, 0), 5_000_000, None, "C"),
    # Only refunds in the window: net -500, GPM 0: C.
    "c-refunds-only": ((100, 0, 500), -500, 0, "C"),
}


def _figures(host_id: str) -> HostFigures:
    views, gross, refunded = HOSTS[host_id][0]
    return HostFigures(host_id=host_id, views=views, gross_paid_minor=gross, refunded_minor=refunded)


@pytest.mark.parametrize("host_id", sorted(HOSTS))
def test_host_tier_follows_the_hand_computed_fixture(host_id: str) -> None:
    _, net, gpm, tier = HOSTS[host_id]
    figures = _figures(host_id)
    assert figures.net_minor == net
    assert figures.gpm_minor == gpm
    assert host_tier(figures, RULES) == tier


def test_the_fixture_covers_every_tier() -> None:
    assert {tier for *_, tier in HOSTS.values()} == set(TIERS)


def test_gpm_rounds_down_and_is_null_without_views() -> None:
    assert gpm_minor(1, 3) == 333
    assert gpm_minor(2, 3) == 666
    assert gpm_minor(100, 0) is None


def test_a_tier_keeps_its_since_until_it_changes() -> None:
    earlier = NOW - 3 * DAY

    def had(host_id: str, tier: str) -> HostTier:
        return HostTier(
            host_id=host_id,
            tier=tier,
            since=earlier,
            computed_at=earlier,
            window_from=earlier - 30 * DAY,
            currency="USD",
            views=0,
            gross_paid_minor=0,
            refunded_minor=0,
            net_minor=0,
            gpm_minor=None,
        )

    previous = {"s-exact": had("s-exact", "S"), "a-exact": had("a-exact", "B")}
    tiers = {t.host_id: t for t in tiers_of([_figures(h) for h in HOSTS], previous, RULES, NOW)}
    assert (tiers["s-exact"].tier, tiers["s-exact"].since) == ("S", earlier)
    assert (tiers["a-exact"].tier, tiers["a-exact"].since) == ("A", NOW)
    assert tiers["c-no-views"].since == NOW
    assert all(t.computed_at == NOW and t.currency == "USD" for t in tiers.values())
    # The window: whole minutes from the minute 30 days before now's minute (12:00:30 -> from 12:00:00).
    assert tiers["s-exact"].window_from == datetime(2026, 5, 31, 12, 0, tzinfo=UTC)
    assert host_window(NOW) == (datetime(2026, 5, 31, 12, 0, tzinfo=UTC), NOW)


def _history(
    person_id: str,
    *,
    paid_ago: timedelta | None = None,
    ever: int = 0,
    in_year: int = 0,
    net: int = 0,
    engaged_ago: timedelta | None = None,
) -> CustomerHistory:
    return CustomerHistory(
        person_id=person_id,
        last_paid_at=NOW - paid_ago if paid_ago is not None else None,
        orders_ever=ever,
        orders_in_year=in_year,
        net_in_year_minor=net,
        last_engaged_at=NOW - engaged_ago if engaged_ago is not None else None,
    )


# person -> (history, segment, recency in whole days); loyal is 5+ orders and 50,000+ net in 365 days.
CUSTOMERS = {
    # Never paid, engaged 90 days ago to the second: still a prospect.
    "prospect-edge": (_history("prospect-edge", engaged_ago=90 * DAY), "prospect", None),
    # Never paid, engaged a second before that: nobody's segment.
    "gone-prospect": (_history("gone-prospect", engaged_ago=90 * DAY + SECOND), None, None),
    "stranger": (_history("stranger"), None, None),
    # First and only order exactly 30 days ago: new.
    "new-edge": (_history("new-edge", paid_ago=30 * DAY, ever=1, in_year=1, net=4_000), "new", 30),
    # The same a second older: paying (paid within 90 days, no longer recent).
    "new-gone": (_history("new-gone", paid_ago=30 * DAY + SECOND, ever=1, in_year=1, net=4_000), "paying", 30),
    # 2 orders in the year, the last yesterday: active.
    "active": (_history("active", paid_ago=DAY, ever=3, in_year=2, net=10_000), "active", 1),
    # Paid 2 days ago, but the other order is over a year old: one in the year, two ever: neither new nor active.
    "returning": (_history("returning", paid_ago=2 * DAY, ever=2, in_year=1, net=3_000), "paying", 2),
    # 5 orders and 50,000 net exactly, last 60 days ago: loyal.
    "loyal-edge": (_history("loyal-edge", paid_ago=60 * DAY, ever=7, in_year=5, net=50_000), "loyal", 60),
    # One minor short of loyal's money, recent, 5 orders: active.
    "loyal-short-money": (_history("loyal-short-money", paid_ago=5 * DAY, ever=5, in_year=5, net=49_999), "active", 5),
    # One order short of loyal, 60 days ago: paying.
    "loyal-short-orders": (
        _history("loyal-short-orders", paid_ago=60 * DAY, ever=4, in_year=4, net=100_000),
        "paying",
        60,
    ),
    # Last paid exactly 90 days ago: paying still.
    "paying-edge": (_history("paying-edge", paid_ago=90 * DAY, ever=1, in_year=1, net=500), "paying", 90),
    # A second more than 90 days: at risk, even with loyal's orders and money (at_risk comes first).
    "at-risk-edge": (
        _history("at-risk-edge", paid_ago=90 * DAY + SECOND, ever=6, in_year=6, net=999_999),
        "at_risk",
        90,
    ),
    # Paid 400 days ago, nothing in the year since: at risk, F 0, M 0.
    "at-risk-old": (_history("at-risk-old", paid_ago=400 * DAY, ever=1, engaged_ago=DAY), "at_risk", 400),
}


@pytest.mark.parametrize("person_id", sorted(CUSTOMERS))
def test_segment_follows_the_hand_computed_fixture(person_id: str) -> None:
    history, segment, _ = CUSTOMERS[person_id]
    assert segment_of(history, NOW, SEGMENT_RULES) == segment


def test_customers_carry_r_f_m_and_leave_out_those_without_a_segment() -> None:
    customers = {c.person_id: c for c in customers_of([h for h, *_ in CUSTOMERS.values()], NOW, SEGMENT_RULES, "EUR")}
    expected = {p for p, (_, segment, _) in CUSTOMERS.items() if segment is not None}
    assert set(customers) == expected
    for person_id, (history, segment, recency) in CUSTOMERS.items():
        if segment is None:
            continue
        c = customers[person_id]
        assert (c.segment, c.recency_days, c.frequency, c.monetary_minor, c.currency) == (
            segment,
            recency,
            history.orders_in_year,
            history.net_in_year_minor,
            "EUR",
        )
    assert segment_counts(list(customers.values())) == {
        "prospect": 1,
        "at_risk": 2,
        "loyal": 1,
        "active": 2,
        "new": 1,
        "paying": 4,
    }


def test_the_fixture_covers_every_segment() -> None:
    assert {segment for _, segment, _ in CUSTOMERS.values()} - {None} == set(SEGMENTS)


def test_an_unknown_segment_is_refused_naming_it() -> None:
    assert ensure_segment("loyal") == "loyal"
    assert ensure_segment(None) is None
    with pytest.raises(UnknownSegment) as refused:
        ensure_segment("whales")
    assert refused.value.field == "segment"
    assert "whales" in refused.value.detail


def test_the_customer_cursor_round_trips_and_refuses_forgeries() -> None:
    customer = Customer(
        person_id="buyer-1",
        segment="new",
        recency_days=0,
        last_paid_at=NOW,
        frequency=1,
        monetary_minor=900,
        currency="USD",
    )
    assert decode_customer_cursor(encode_customer_cursor(customer)) == (900, "buyer-1")
    for forged in ("!!!", "bm90IGpzb24", "WzEsMiwzXQ"):
        with pytest.raises(InvalidCursor):
            decode_customer_cursor(forged)


def test_the_daily_run_is_the_next_time_of_day_after_now() -> None:
    two_am = 2 * 3600
    assert next_daily_run(datetime(2026, 6, 30, 1, 59, tzinfo=UTC), two_am) == datetime(2026, 6, 30, 2, tzinfo=UTC)
    assert next_daily_run(datetime(2026, 6, 30, 2, 0, tzinfo=UTC), two_am) == datetime(2026, 7, 1, 2, tzinfo=UTC)
    assert next_daily_run(NOW, two_am) == datetime(2026, 7, 1, 2, tzinfo=UTC)
