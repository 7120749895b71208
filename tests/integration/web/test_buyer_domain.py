"""The buyer pages' pure rules, without a server: distances as people read them, where the buyer is, the search form,
vouchers by state, the coupons a shop's order can take."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.web.domain import NotAnAmount
from services.web.domain.buyer import (
    distance_m,
    distance_text,
    opening_days,
    qr_data_uri,
    read_quantity,
    read_search,
    read_where,
    usable_coupons,
    used_coupon_ids,
    voucher_group,
)

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("metres", "language", "shown"),
    [
        (3, "en", "10 m"),
        (847, "en", "850 m"),
        (994, "en", "990 m"),
        (996, "en", "1 km"),
        (2_400, "en", "2.4 km"),
        (2_000, "en", "2 km"),
        (9_960, "en", "10 km"),
        (12_345, "en", "12 km"),
        (850, "zh_Hans", "850米"),
        (2_400, "zh_Hans", "2.4公里"),
    ],
)
def test_a_distance_reads_in_metres_then_kilometres_in_the_readers_language(
    metres: float, language: str, shown: str
) -> None:
    assert distance_text(metres, language) == shown


def test_the_distance_is_local_lifes_great_circle() -> None:
    # One degree of latitude on a sphere of 6,371,008.8 m.
    assert distance_m(0, 0, 1, 0) == pytest.approx(111_195.08, abs=0.01)
    assert distance_m(37.7936, -122.3958, 37.7936, -122.3958) == 0


def test_where_the_buyer_is_defaults_to_the_settings_point_and_refuses_what_is_not_a_point() -> None:
    default = (37.79, -122.39)
    assert read_where({}, default).where == read_where({"lat": "", "lng": ""}, default).where
    assert read_where({}, default).where.lat == 37.79
    chosen = read_where({"lat": "31.23", "lng": "121.47", "radius_m": "1000"}, default)
    assert (chosen.where.lat, chosen.where.lng, chosen.where.radius_m, chosen.errors) == (31.23, 121.47, 1000, {})
    wrong = read_where({"lat": "91", "lng": "east", "radius_m": "7"}, default)
    assert set(wrong.errors) == {"lat", "lng", "radius_m"}
    assert wrong.where.lat == 37.79  # nothing asked of the API with it
    assert read_where({"lat": "nan", "lng": "1"}, default).errors == {"lat": "Enter a latitude between -90 and 90"}


def test_the_search_form_reads_prices_in_the_chosen_currencys_units() -> None:
    form = read_search({"q": " plush ", "min_price": "12.5", "max_price": "30", "currency": "USD", "in_stock": "1"})
    assert form.params == {"q": "plush", "min_price_minor": 1250, "max_price_minor": 3000, "in_stock": "true"}
    assert read_search({"min_price": "1200", "currency": "JPY"}).params == {"min_price_minor": 1200}
    assert read_search({"min_price": "12.5", "currency": "JPY"}).errors == {
        "min_price": "Too many decimal places for this currency"
    }
    assert read_search({"currency": "XXX"}).currency == "USD"
    assert not read_search({}).asked
    assert read_search({}).error_for_api_field("max_price_minor") == "max_price"


@pytest.mark.parametrize("typed", ["0", "1000", "-1", "two", ""])
def test_a_quantity_is_one_to_nine_hundred_ninety_nine(typed: str) -> None:
    with pytest.raises(NotAnAmount):
        read_quantity(typed)


def test_vouchers_are_grouped_by_what_the_buyer_can_still_do_with_them() -> None:
    later, earlier = NOW + timedelta(days=1), NOW - timedelta(days=1)
    assert voucher_group("unused", later, NOW) == "usable"
    assert voucher_group("unused", earlier, NOW) == "expired"  # past its validity, before the expiry job ran
    assert voucher_group("redeemed", later, NOW) == "used"
    assert voucher_group("refund_pending", later, NOW) == "refunded"
    assert voucher_group("refunded", later, NOW) == "refunded"
    assert voucher_group("expired", later, NOW) == "expired"


def test_a_shops_order_takes_the_buyers_unused_valid_coupons_of_that_shop_in_its_currency() -> None:
    def coupon(coupon_id: str, merchant: str = "m1", currency: str = "USD", hours: int = 1) -> dict:
        until = (NOW + timedelta(hours=hours)).isoformat()
        return {"coupon_id": coupon_id, "merchant_id": merchant, "currency": currency, "valid_until": until}

    coupons = [coupon("ok"), coupon("other", merchant="m2"), coupon("yen", currency="JPY"), coupon("old", hours=-1)]
    coupons.append(coupon("used"))
    used = used_coupon_ids(
        [
            {"coupon_id": "used", "status": "paid"},
            {"coupon_id": "ok", "status": "cancelled"},  # a cancelled order gives its coupon back
            {"coupon_id": None, "status": "paid"},
        ]
    )
    assert used == {"used"}
    assert [c["coupon_id"] for c in usable_coupons(coupons, "m1", "USD", used, NOW)] == ["ok"]


def test_a_week_of_opening_hours_reads_monday_first_in_the_readers_language() -> None:
    days = opening_days({"0": [["09:00", "14:00"], ["17:00", "22:00"]], "6": [["00:00", "24:00"]]}, "en")
    assert [d.name for d in days][:2] == ["Monday", "Tuesday"]
    assert days[0].ranges == ("09:00\u201314:00", "17:00\u201322:00")
    assert days[1].ranges == ()
    assert days[6].all_day
    assert opening_days({}, "zh_Hans")[0].name == "星期一"


def test_the_qr_code_is_an_svg_data_url() -> None:
    assert qr_data_uri("v1.abc.def").startswith("data:image/svg+xml")
