"""The seller's charts are SVG a page can inline under its CSP: labelled, titled, drawn from the numbers given, and
readable in both languages; and the live pages' forms read into API bodies."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.web.adapters.catalogues import load_catalogues
from services.web.domain import charts, seller_live
from services.web.domain.charts import Series, Step, funnel_chart, minute_chart, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2030, 6, 1, 20, 0, tzinfo=UTC)
CHINESE = load_catalogues()["zh_Hans"].gettext


def english(text: str) -> str:
    return text


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def steps() -> list[Step]:
    return [
        Step("views", "Views", 1200, None),
        Step("clicks", "Product clicks", 300, 0.25),
        Step("carts", "Added to cart", 60, 0.2),
        Step("orders", "Orders", 30, 0.5),
        Step("paid_orders", "Paid orders", 0, 0.0),
    ]


def test_the_funnel_chart_draws_a_bar_per_step_in_proportion_with_its_count_and_rate() -> None:
    root = parsed(funnel_chart(steps(), english, "en", chart_id="f"))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "f-title f-desc"
    assert root.find(f"{SVG}title").text == "Conversion funnel"
    assert root.find(f"{SVG}desc").text == "Views: 1,200; Paid orders: 0."
    bars = {g.get("data-step"): g for g in root.iter(f"{SVG}g") if g.get("data-step")}
    assert list(bars) == ["views", "clicks", "carts", "orders", "paid_orders"]
    widths = {key: float(g.find(f"{SVG}rect").get("width")) for key, g in bars.items()}
    assert widths["views"] == pytest.approx(4 * widths["clicks"])
    assert widths["clicks"] == pytest.approx(5 * widths["carts"])
    assert widths["paid_orders"] == 1.0  # a zero still shows a sliver next to its label
    shown = texts(root)
    assert "1,200" in shown
    assert "300 · 25.0% of the step before" in shown
    assert "0 · 0.0% of the step before" in shown


def test_a_rate_the_api_could_not_compute_is_a_dash() -> None:
    chart = funnel_chart(
        [Step("views", "Views", 0, None), Step("clicks", "Product clicks", 0, None)], english, "en", chart_id="f"
    )
    assert "0 · \u2013 of the step before" in texts(parsed(chart))


def test_the_minute_chart_has_a_line_per_series_over_every_minute_with_labelled_axes() -> None:
    views = Series("views", "Views", {T0: 4, T0 + timedelta(minutes=3): 9})
    paid = Series("paid_orders", "Paid orders", {T0 + timedelta(minutes=1): 2})
    root = parsed(minute_chart([views, paid], english, "en", chart_id="m"))
    assert root.find(f"{SVG}title").text == "Funnel per minute"
    assert root.find(f"{SVG}desc").text == "Per-minute counts from 20:00 to 20:03 (UTC); most in one minute: 9."
    lines = {g.get("data-series"): g for g in root.iter(f"{SVG}g") if g.get("data-series")}
    assert {key: g.get("data-total") for key, g in lines.items()} == {"views": "13", "paid_orders": "2"}
    # Four minutes, the quiet ones at zero: a point each.
    points = lines["views"].find(f"{SVG}polyline").get("points").split()
    assert len(points) == 4
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[1] == ys[2] == max(ys)  # zero is the bottom of the plot
    assert ys[3] == min(ys)  # 9 is the most
    shown = texts(root)
    assert "Minute (UTC)" in shown
    assert "Per minute" in shown
    assert [t for t in shown if re.fullmatch(r"\d\d:\d\d", t)] == ["20:00", "20:01", "20:02", "20:03"]
    assert "10" in shown  # the y axis runs to a round number above the most
    assert {"Views", "Paid orders"} <= set(shown)  # the legend


def test_a_long_day_is_labelled_at_a_few_minutes_only() -> None:
    views = Series("views", "Views", {T0 + timedelta(minutes=n): n for n in range(0, 600, 7)})
    root = parsed(minute_chart([views], english, "en", chart_id="m"))
    labels = [t for t in texts(root) if re.fullmatch(r"\d\d:\d\d", t)]
    assert labels[0] == "20:00"
    assert labels[-1] == (T0 + timedelta(minutes=595)).strftime("%H:%M")
    assert len(labels) == charts.MAX_X_TICKS
    line = next(g for g in root.iter(f"{SVG}g") if g.get("data-series") == "views")
    assert not list(line.iter(f"{SVG}circle"))  # past MARKERS_UP_TO minutes, the line alone


def test_an_empty_chart_says_so() -> None:
    root = parsed(minute_chart([Series("views", "Views", {})], english, "en", chart_id="m"))
    assert root.find(f"{SVG}desc").text == "Nothing happened in any minute yet."


def test_the_charts_read_in_simplified_chinese() -> None:
    funnel = parsed(funnel_chart(steps(), CHINESE, "zh_Hans", chart_id="f"))
    assert funnel.find(f"{SVG}title").text == "转化漏斗"
    assert "为上一步的 25.0%" in " ".join(texts(funnel))
    minutes = parsed(minute_chart([Series("views", "Views", {T0: 1})], CHINESE, "zh_Hans", chart_id="m"))
    assert {"分钟（UTC）", "每分钟", "观看次数"} <= set(texts(minutes))  # noqa: RUF001


def test_every_text_the_charts_and_forms_show_has_its_simplified_chinese() -> None:
    ids = {*charts.CHART_TEXT, "Views", "Product clicks", "Added to cart", "Orders", "Paid orders"}
    source = Path(seller_live.__file__).read_text()
    ids |= set(re.findall(r'ValueError\("([^"]+)"\)', source)) | set(re.findall(r'\] = "([^"]+)"', source))
    assert not sorted(i for i in ids if CHINESE(i) == i)


def test_text_is_escaped_and_the_markup_has_no_style_or_script() -> None:
    hostile = Series("views", "<script>alert(1)</script>", {T0: 1})
    for svg in (
        minute_chart([hostile], english, "en", chart_id='x" onload="alert(1)'),
        funnel_chart([Step("v", "<b>", 1, None)], english, "en", chart_id="f"),
    ):
        assert "<script" not in svg
        assert "style=" not in svg
        assert "<style" not in svg
        assert "onload=" not in svg.replace("&quot; onload=&quot;", "")
        parsed(svg)


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (1200, 2000), (5000, 5000)])
def test_the_y_axis_runs_to_a_round_number(value: int, top: int) -> None:
    assert nice_ceiling(value) == top


# --- the forms ------------------------------------------------------------------------------------------------


def test_a_room_form_becomes_the_api_body_with_a_utc_start() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    read = seller_live.read_room_form(
        {"title": " Launch ", "host_id": "host-a", "cover_url": "", "scheduled_start_at": "2030-06-01T20:30"}, now
    )
    assert not read.errors
    assert read.body == {"title": "Launch", "host_id": "host-a", "scheduled_start_at": "2030-06-01T20:30:00+00:00"}
    unannounced = seller_live.read_room_form({"title": "Launch", "host_id": "h", "scheduled_start_at": ""}, now)
    assert "scheduled_start_at" not in unannounced.body


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("tomorrow", "Enter the start as a date and time (UTC)"),
        ("2030-02-30T10:00", "Enter the start as a date and time (UTC)"),
        ("2029-12-31T23:59", "Choose a start time in the future"),
    ],
)
def test_a_start_the_page_cannot_read_is_refused_by_its_field(typed: str, error: str) -> None:
    read = seller_live.read_room_form({"title": "T", "scheduled_start_at": typed}, datetime(2030, 1, 1, tzinfo=UTC))
    assert read.errors == {"scheduled_start_at": error}


def test_a_video_form_anchors_the_ticked_items_once_each_in_order() -> None:
    product, deal = "11111111-1111-1111-1111-111111111111", "22222222-2222-2222-2222-222222222222"
    read = seller_live.read_video_form(
        {"title": "Unboxing", "media_url": "https://v.example/1.mp4", "duration_s": "12.5", "host_id": ""},
        [f"deal:{deal}", f"product:{product}", f"deal:{deal}", "product:not-an-id"],
    )
    assert not read.errors
    assert read.body == {
        "title": "Unboxing",
        "media_url": "https://v.example/1.mp4",
        "duration_s": 12.5,
        "anchors": [{"deal_id": deal}, {"product_id": product}],
    }


def test_a_video_form_without_anchors_or_a_length_is_refused_by_its_fields() -> None:
    read = seller_live.read_video_form({"title": "T", "media_url": "https://v", "duration_s": "-3"}, [])
    assert read.errors == {
        "duration_s": "Enter the length in seconds, such as 45",
        "anchors": "Choose at least one product or deal",
    }
    many = [f"product:{i:08d}-0000-0000-0000-000000000000" for i in range(21)]
    assert seller_live.read_video_form({"duration_s": "5"}, many).errors == {
        "anchors": "Choose at most 20 products and deals"
    }


@pytest.mark.parametrize(
    ("api_field", "form_field"),
    [
        ("anchors[3]", "anchors"),
        ("anchors[0].product_id", "anchors"),
        ("$.title", "title"),
        ("room_id", ""),
        (None, ""),
    ],
)
def test_the_apis_field_names_the_forms(api_field: str | None, form_field: str) -> None:
    assert seller_live.form_field(api_field, ("title", "anchors")) == form_field
