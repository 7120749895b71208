"""The seller's local-life forms without a server: what a merchant types becomes local_life's body, and local_life's
`field` finds the form's field again."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.web.domain import seller_local as forms


def test_opening_hours_become_ranges_and_midnight_closes_at_24() -> None:
    form = forms.read_store_form(
        {
            "name": ["Noodle bar"],
            "address": ["1 Road"],
            "lat": ["31.2"],
            "lng": ["-121.5"],
            "hours-0-0-opens": ["09:00"],
            "hours-0-0-closes": ["14:00"],
            "hours-0-1-opens": ["17:00"],
            "hours-0-1-closes": ["00:00"],
            "hours-6-0-opens": [""],
            "hours-6-0-closes": [""],
        }
    )
    assert form.errors == {}
    assert form.body["opening_hours"] == {"0": [["09:00", "14:00"], ["17:00", "24:00"]]}
    assert (form.body["lat"], form.body["lng"], form.body["timezone"]) == (31.2, -121.5, "UTC")
    # And back: the edit form shows midnight as a time field holds it.
    values = forms.store_values({"name": "N", "opening_hours": form.body["opening_hours"]})
    assert values["hours-0-1-closes"] == ["00:00"]


def test_a_time_without_its_pair_or_not_a_time_is_refused_by_its_day() -> None:
    form = forms.read_store_form(
        {"lat": ["x"], "lng": ["1"], "hours-2-0-opens": ["10:00"], "hours-4-0-opens": ["9"], "hours-4-0-closes": ["10"]}
    )
    assert form.errors == {
        "lat": "Enter degrees as a decimal number, such as 31.2304",
        "hours-2": "Give both the opening and the closing time",
        "hours-4": "Enter a time such as 09:30",
    }


@pytest.mark.parametrize(
    ("api_field", "form_field"),
    [
        ("opening_hours.3[0][1]", "hours-3"),
        ("opening_hours.5", "hours-5"),
        ("timezone", "timezone"),
        ("status", ""),
        (None, ""),
    ],
)
def test_local_lifes_store_field_names_the_forms(api_field: str | None, form_field: str) -> None:
    assert forms.store_error_field(api_field) == form_field


@pytest.mark.parametrize(
    ("api_field", "form_field"),
    [
        ("original_value_minor", "value"),
        ("store_ids[2]", "stores"),
        ("usage_hours[0]", "usage_hours"),
        ("usage_weekdays[1]", "usage_weekdays"),
        ("team_window_s", "team_window_h"),
        ("valid_until", "valid_until"),
        ("nonsense", ""),
    ],
)
def test_local_lifes_deal_field_names_the_forms(api_field: str, form_field: str) -> None:
    assert forms.deal_error_field(api_field) == form_field


def test_a_window_of_whole_days_is_read_in_its_time_zone_and_shown_again_in_it() -> None:
    values = forms.new_deal_values("Asia/Shanghai", []) | {
        "title": ["Tea"],
        "price": ["12.5"],
        "value": ["20"],
        "validity": ["window"],
        "valid_from": ["2030-01-01"],
        "valid_until": ["2030-01-31"],
    }
    form = forms.read_deal_form(values, "USD")
    assert form.errors == {}
    body = form.body
    assert (body["price_minor"], body["original_value_minor"], body["valid_days"]) == (1250, 2000, None)
    assert (body["valid_from"], body["valid_until"]) == ("2029-12-31T16:00:00+00:00", "2030-01-31T16:00:00+00:00")
    deal = body | {"valid_from": "2029-12-31T16:00:00Z", "valid_until": "2030-01-31T16:00:00Z"}
    # Shown again with the zone it was typed in, even when the deal's store is elsewhere.
    shown = forms.deal_values(deal, ["America/Los_Angeles"])
    assert (shown["valid_from"], shown["valid_until"], shown["window_timezone"]) == (
        ["2030-01-01"],
        ["2030-01-31"],
        ["Asia/Shanghai"],
    )
    assert (shown["price"], shown["value"]) == (["12.50"], ["20.00"])


def test_a_window_missing_a_day_and_no_weekday_are_refused_by_the_page() -> None:
    values = forms.new_deal_values("UTC", []) | {"validity": ["window"], "valid_from": ["2030-01-01"]}
    values["usage_weekday"] = []
    form = forms.read_deal_form(values | {"price": ["1"], "value": ["1"]}, "USD")
    assert form.errors == {
        "valid_until": "Enter a date such as 2025-12-31",
        "usage_weekdays": "Choose at least one weekday",
    }


def test_the_report_is_the_last_seven_days_unless_asked() -> None:
    today = datetime(2030, 5, 10, 23, 0, tzinfo=UTC).date()
    default = forms.report_range({}, today)
    assert (default.from_day, default.to_day, default.errors) == (date(2030, 5, 4), date(2030, 5, 10), {})
    asked = forms.report_range({"from": "2030-01-01", "to": "soon"}, today)
    assert (asked.from_day, asked.errors) == (date(2030, 1, 1), {"to": "Enter a date such as 2025-12-31"})
