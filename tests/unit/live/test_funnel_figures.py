"""Pure figures of a funnel scope: rates, GPM, UV value, sale sell-through, series, the review's best minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from libs.auth import Principal
from libs.web.problems import status_of
from services.live.funnel.domain import figures as domain
from services.live.funnel.domain.figures import BadSeriesRange, OrderCounts, RoomNotEnded, StepTotal
from services.live.funnel.views import MinutePoint, TopProduct

T0 = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)
MERCHANT = "0b5d3f0e-8a41-4c3e-9a57-3c1f7f1e2a10"


def t(step: str, n: int = 0, *, currency: str = "", amount: int = 0, quantity: int = 0, watch: float = 0.0, at=None):
    return StepTotal(
        step=step, n=n, currency=currency, amount_minor=amount, quantity=quantity, watch_s=watch, minute=at
    )


SESSION = [
    t("view", 200),
    t("watch", 150, watch=150 * 42.0),
    t("impression", 120),
    t("click", 60),
    t("cart", 30),
    t("order", 20, currency="USD", amount=20 * 2500),
    t("paid", 15, currency="USD", amount=15 * 2500),
    t("refund", 2, currency="USD", amount=2 * 2500),
    t("voucher_redeemed", 1),
]


def test_the_scripted_session_figures_follow_their_definitions() -> None:
    got = domain.figures(
        "room",
        "r1",
        SESSION,
        uniques={"viewer": 180, "clicker": 40, "buyer": 14},
        counts=OrderCounts(orders=20, paid_orders=15, vouchers_paid=4),
    )
    assert (got.views, got.unique_viewers, got.average_watch_s) == (200, 180, 42.0)
    assert (got.impressions, got.clicks, got.unique_clickers, got.click_through_rate) == (120, 60, 40, 0.5)
    assert (got.carts, got.orders, got.paid_orders, got.buyers, got.refunds) == (30, 20, 15, 14, 2)
    [usd] = got.money
    assert (usd.currency, usd.gross_paid_minor, usd.refunded_minor, usd.net_minor) == ("USD", 37500, 5000, 32500)
    assert usd.gpm_minor == 37500 * 1000 // 200  # per 1,000 views
    assert usd.uv_value_minor == round(37500 / 180)  # 208.33 -> 208
    conversion = got.conversion
    assert (conversion.view_to_click, conversion.click_to_cart) == (0.3, 0.5)
    assert (conversion.cart_to_order, conversion.order_to_paid) == (0.6667, 0.75)
    assert (got.vouchers_paid, got.vouchers_redeemed, got.voucher_redemption_rate) == (4, 1, 0.25)
    assert got.sale is None


def test_nothing_yet_gives_zeros_and_null_rates() -> None:
    got = domain.figures("room", "r1", [], uniques={}, counts=OrderCounts())
    assert (got.views, got.orders, got.money, got.average_watch_s) == (0, 0, [], None)
    assert got.click_through_rate is None
    assert got.voucher_redemption_rate is None
    assert got.conversion.view_to_click is None
    assert got.conversion.order_to_paid is None


def test_money_is_kept_per_currency_and_refunds_alone_still_show() -> None:
    totals = [
        t("view", 3),
        t("paid", 1, currency="USD", amount=1000),
        t("paid", 1, currency="EUR", amount=500),
        t("refund", 1, currency="GBP", amount=70),
    ]
    got = domain.figures("merchant", MERCHANT, totals, uniques={"viewer": 2}, counts=OrderCounts())
    assert [(m.currency, m.gross_paid_minor, m.refunded_minor, m.net_minor) for m in got.money] == [
        ("EUR", 500, 0, 500),
        ("GBP", 0, 70, -70),
        ("USD", 1000, 0, 1000),
    ]
    assert [m.gpm_minor for m in got.money] == [166667, 0, 333333]  # 500*1000/3 half up
    assert [m.uv_value_minor for m in got.money] == [250, 0, 500]


def test_video_views_are_plays_and_watch_time_is_play_seconds_per_play() -> None:
    totals = [t("video_play", 4, watch=4 * 9.5), t("anchor_click", 2)]
    got = domain.figures("video", "v1", totals, uniques={"viewer": 3}, counts=OrderCounts())
    assert (got.views, got.average_watch_s, got.clicks, got.conversion.view_to_click) == (4, 9.5, 2, 0.5)


def test_sale_sell_through_counts_units_kept_and_pay_rate_units_paid_of_admitted() -> None:
    totals = [t("sale_admitted", 7, quantity=9), t("sale_paid", 5, quantity=6), t("sale_expired", 2, quantity=3)]
    sale = domain.sale_figures(10, totals)
    assert (sale.admitted_units, sale.paid_units, sale.expired_units) == (9, 6, 3)
    assert (sale.sell_through, sale.pay_rate) == (0.6, 0.6667)
    assert domain.sale_figures(10, []).pay_rate is None


def test_series_puts_each_minute_in_order_with_its_distinct_orders() -> None:
    m0, m1 = T0, T0 + timedelta(minutes=1)
    points = [
        t("paid", 3, currency="USD", amount=900, at=m1),
        t("view", 5, at=m0),
        t("click", 2, at=m0),
        t("anchor_click", 1, at=m0),
    ]
    got = domain.series(points, {m1: OrderCounts(orders=2, paid_orders=2)})
    assert [(p.minute, p.views, p.clicks, p.paid_orders, p.gross_paid_minor) for p in got] == [
        (m0, 5, 3, 0, {}),
        (m1, 0, 0, 2, {"USD": 900}),
    ]


def point(minute: datetime, paid: dict[str, int]) -> MinutePoint:
    return MinutePoint(
        minute=minute,
        views=0,
        watch_s=0,
        impressions=0,
        clicks=0,
        carts=0,
        orders=0,
        paid_orders=1,
        gross_paid_minor=paid,
        refunded_minor={},
    )


def test_best_minute_is_the_most_paid_and_the_earliest_of_a_tie() -> None:
    m = [T0 + timedelta(minutes=i) for i in range(4)]
    points = [point(m[3], {"USD": 700}), point(m[0], {"USD": 100}), point(m[2], {"USD": 700}), point(m[1], {})]
    assert domain.best_minute(points).minute == m[2]
    assert domain.best_minute([point(m[0], {})]) is None


def test_top_products_rank_by_amount_then_units() -> None:
    sold = [
        TopProduct(product_id="a", title="A", currency="USD", gross_paid_minor=500, units=1, paid_orders=1),
        TopProduct(product_id="b", title="B", currency="USD", gross_paid_minor=500, units=5, paid_orders=2),
        TopProduct(deal_id="c", title="C", currency="USD", gross_paid_minor=900, units=1, paid_orders=1),
    ]
    assert [p.product_id or p.deal_id for p in domain.top_products(sold)] == ["c", "b", "a"]


def test_series_range_is_the_last_day_by_default_and_at_most_a_day_when_asked() -> None:
    assert domain.series_range(None, None, None) is None
    assert domain.series_range(None, None, T0) == (
        T0 + timedelta(minutes=1) - timedelta(days=1),
        T0 + timedelta(minutes=1),
    )
    assert domain.series_range(T0, T0 + timedelta(hours=24), None) == (T0, T0 + timedelta(hours=24))
    for since, until, field in [
        (T0, T0 + timedelta(hours=24, minutes=1), "to"),
        (T0, T0, "to"),
        (T0, None, "to"),
        (None, T0, "from"),
    ]:
        with pytest.raises(BadSeriesRange) as refused:
            domain.series_range(since, until, None)
        assert refused.value.field == field
        assert status_of(refused.value) == 422


def test_only_the_staff_read_a_funnel() -> None:
    host = Principal(sub="host-1", role="host", merchant_id=MERCHANT)
    merchant = Principal(sub="m", role="merchant", merchant_id=MERCHANT.upper())
    other_host = Principal(sub="host-2", role="host", merchant_id=MERCHANT)
    buyer = Principal(sub="host-1", role="buyer")
    assert domain.may_read_staffed(host, "host-1", MERCHANT)
    assert domain.may_read_staffed(merchant, "someone", MERCHANT)
    assert not domain.may_read_staffed(other_host, "host-1", MERCHANT)
    assert not domain.may_read_staffed(buyer, "host-1", MERCHANT)
    assert not domain.may_read_merchant(merchant, "not-a-uuid")


def test_a_review_waits_for_the_room_to_end() -> None:
    domain.ensure_ended("ended")
    with pytest.raises(RoomNotEnded) as refused:
        domain.ensure_ended("live")
    assert status_of(refused.value) == 409
    assert refused.value.extra == {"room_status": "live"}


def test_times_are_rfc3339_and_zone_less_ones_are_utc() -> None:
    assert domain.parse_at("2026-12-04T14:00:00Z", "from") == T0
    assert domain.parse_at("2026-12-04T14:00:00", "from") == T0
    assert domain.parse_at(None, "from") is None
    with pytest.raises(domain.BadTime) as refused:
        domain.parse_at("yesterday", "to")
    assert refused.value.field == "to"
    assert status_of(refused.value) == 400
