"""What the buyer pages show, without I/O: where the buyer is, distances, the search and cart forms, opening hours,
vouchers by state, coupons a cart can take, the voucher's QR code.

Pure functions of their arguments (the clock is passed in); segno only draws the QR code in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import segno
from babel.dates import get_day_names
from babel.units import format_unit

from services.web.domain import DEFAULT_LANGUAGE, LANGUAGES, NotAnAmount, language_of, parse_amount, parse_count

# The Earth's mean radius, as local_life measures distances (its haversine), so the page and the API agree.
EARTH_RADIUS_M = 6_371_008.8
# The radii a buyer picks from (local_life answers up to 50 km).
RADII_M = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
DEFAULT_RADIUS_M = 5_000
# The currencies a price filter can be typed in; shop compares minor units whatever the currency, so the currency
# only says how many decimals the typed amount has.
SEARCH_CURRENCIES = ("USD", "CNY", "EUR", "GBP", "HKD", "JPY")
MAX_QUERY = 100
EN_DASH = "\u2013"  # between the two ends of a range of hours
# Shop takes at most 999 of a SKU in one line.
MAX_QUANTITY = 999


# --- where the buyer is, and how far things are -------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """A point (degrees) and how far around it to look (metres)."""

    lat: float
    lng: float
    radius_m: int = DEFAULT_RADIUS_M


def parse_point(text: str) -> tuple[float, float]:
    """`"37.79,-122.39"` -> (37.79, -122.39); the web app's `default_location` setting is written so."""
    lat, _, lng = text.partition(",")
    point = float(lat), float(lng)
    if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
        raise ValueError(f"not a point on Earth: {text!r}")
    return point


@dataclass
class WhereForm:
    """The location form as typed, the point it gives (the default when nothing was typed) and its errors."""

    values: dict[str, str]
    where: Where
    errors: dict[str, str] = field(default_factory=dict)


def read_where(values: dict[str, str], default: tuple[float, float]) -> WhereForm:
    """The point and radius the buyer gave (lat and lng both, or neither: the default point)."""
    form = WhereForm(values=values, where=Where(*default))
    lat_text, lng_text = values.get("lat", "").strip(), values.get("lng", "").strip()
    lat, lng = default
    if lat_text or lng_text:
        try:
            lat = float(lat_text)
            if not -90 <= lat <= 90 or math.isnan(lat):
                raise ValueError
        except ValueError:
            form.errors["lat"] = "Enter a latitude between -90 and 90"
        try:
            lng = float(lng_text)
            if not -180 <= lng <= 180 or math.isnan(lng):
                raise ValueError
        except ValueError:
            form.errors["lng"] = "Enter a longitude between -180 and 180"
    radius = DEFAULT_RADIUS_M
    radius_text = values.get("radius_m", "").strip()
    if radius_text:
        if radius_text.isdigit() and int(radius_text) in RADII_M:
            radius = int(radius_text)
        else:
            form.errors["radius_m"] = "Choose one of the distances offered"
    if not form.errors:
        form.where = Where(lat, lng, radius)
    return form


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine on local_life's sphere)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def distance_text(metres: float, language: str = DEFAULT_LANGUAGE) -> str:
    """`850 m`, `2.4 km`, `12 km` (`850米`, `2.4公里` in Chinese): tens of metres under a kilometre, then tenths of a
    kilometre under ten (a whole one without its `.0`), then whole kilometres."""
    locale = LANGUAGES[language_of(language)]
    if metres < 995:
        return format_unit(max(10, round(metres / 10) * 10), "length-meter", length="short", locale=locale)
    km = metres / 1000
    if km < 9.95:  # "2.4 km", and "2 km" rather than "2.0 km"
        return format_unit(round(km, 1), "length-kilometer", length="short", locale=locale, format="#,##0.#")
    return format_unit(round(km), "length-kilometer", length="short", locale=locale, format="#,##0")


# --- opening hours -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OpeningDay:
    """One weekday of a store's week: its name in the reader's language and its ranges (`09:00-14:00`)."""

    weekday: int
    name: str
    ranges: tuple[str, ...]
    all_day: bool


def opening_days(hours: dict[str, list[list[str]]], language: str = DEFAULT_LANGUAGE) -> list[OpeningDay]:
    """Monday to Sunday; a day left out is closed (no ranges), `00:00`-`24:00` is all day."""
    names = get_day_names("wide", locale=LANGUAGES[language_of(language)])
    days = []
    for weekday in range(7):
        ranges = [(start, end) for start, end in hours.get(str(weekday), [])]
        days.append(
            OpeningDay(
                weekday=weekday,
                name=str(names[weekday]),
                ranges=tuple(f"{start}{EN_DASH}{end}" for start, end in ranges),
                all_day=ranges == [("00:00", "24:00")],
            )
        )
    return days


def weekday_names(weekdays: list[int], language: str = DEFAULT_LANGUAGE) -> list[str]:
    """The weekdays (0 = Monday) by name in the reader's language, Monday first."""
    names = get_day_names("wide", locale=LANGUAGES[language_of(language)])
    return [str(names[day]) for day in sorted(weekdays)]


# --- product search ------------------------------------------------------------------------------------------------


@dataclass
class SearchForm:
    """The search form as typed, shop's query parameters made of it, and the errors by form field."""

    values: dict[str, str]
    currency: str
    params: dict[str, str | int] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def asked(self) -> bool:
        """The buyer searched (a word or a filter), rather than opening the page."""
        return any(self.values.get(name, "").strip() for name in ("q", "min_price", "max_price", "in_stock"))

    def error_for_api_field(self, api_field: str | None) -> str:
        """The form field shop's `field` names (`max_price_minor` -> `max_price`); "" for the form."""
        return {"q": "q", "min_price_minor": "min_price", "max_price_minor": "max_price", "in_stock": "in_stock"}.get(
            api_field or "", ""
        )


def read_search(values: dict[str, str]) -> SearchForm:
    """Words, a price range typed in a currency's units (parsed to minor units) and "in stock only"."""
    currency = values.get("currency", "") if values.get("currency") in SEARCH_CURRENCIES else SEARCH_CURRENCIES[0]
    form = SearchForm(values=values, currency=currency)
    q = values.get("q", "").strip()
    if len(q) > MAX_QUERY:
        form.errors["q"] = "Search for at most 100 characters"
    elif q:
        form.params["q"] = q
    for name in ("min_price", "max_price"):
        text = values.get(name, "").strip()
        if not text:
            continue
        try:
            form.params[f"{name}_minor"] = parse_amount(text, currency)
        except NotAnAmount as exc:
            form.errors[name] = str(exc)
    if values.get("in_stock"):
        form.params.update(in_stock="true")
    cursor = values.get("cursor", "")
    if cursor:
        form.params["cursor"] = cursor
    return form


# --- the cart ------------------------------------------------------------------------------------------------------


def read_quantity(text: str) -> int:
    """How many of a SKU the buyer wants: 1 to 999."""
    try:
        quantity = parse_count(text)
    except NotAnAmount:
        raise NotAnAmount("Enter a quantity from 1 to 999") from None
    if not 1 <= quantity <= MAX_QUANTITY:
        raise NotAnAmount("Enter a quantity from 1 to 999")
    return quantity


def subtotals(lines: list[dict[str, Any]]) -> dict[str, int]:
    """The lines' prices times quantities, by currency (before coupons: orders applies them at checkout)."""
    total: dict[str, int] = {}
    for line in lines:
        total[line["currency"]] = total.get(line["currency"], 0) + line["unit_price_minor"] * line["quantity"]
    return total


def used_coupon_ids(orders: list[dict[str, Any]]) -> set[str]:
    """Coupons the buyer's orders hold: every order's coupon unless the order was cancelled (which gives it back)."""
    return {o["coupon_id"] for o in orders if o.get("coupon_id") and o.get("status") != "cancelled"}


def usable_coupons(
    coupons: list[dict[str, Any]], merchant_id: str, currency: str, used: set[str], now: datetime
) -> list[dict[str, Any]]:
    """The buyer's coupons one merchant's order can take: that merchant's, in its currency, unused, still valid."""
    return [
        c
        for c in coupons
        if c["merchant_id"] == merchant_id
        and c["currency"] == currency
        and c["coupon_id"] not in used
        and datetime.fromisoformat(c["valid_until"]) > now
    ]


# --- vouchers ------------------------------------------------------------------------------------------------------

# The groups of "My vouchers", in the order shown: (group, heading msgid).
VOUCHER_GROUPS = (
    ("usable", "Ready to use"),
    ("used", "Used"),
    ("refunded", "Refunded or being refunded"),
    ("expired", "Expired"),
)


def voucher_group(status: str, valid_until: datetime, now: datetime) -> str:
    """Where a voucher goes: `usable` (unused and still valid), `used`, `refunded` (or pending), `expired`."""
    if status == "unused":
        return "usable" if valid_until > now else "expired"
    if status == "redeemed":
        return "used"
    if status in ("refund_pending", "refunded"):
        return "refunded"
    return "expired"


def qr_data_uri(payload: str) -> str:
    """The QR code of `payload` as an SVG `data:` URL (the page's policy lets images come from `data:`)."""
    return str(segno.make(payload, error="m").svg_data_uri(scale=6, border=4, dark="#000", light="#fff"))
