"""The seller's local-life pages without I/O: the store and deal forms (what a merchant typed -> local_life's body,
an API's `field` -> the form's field), opening hours as a grid, the report's date range, local clock times.

The forms check only what the page alone knows (an amount in the currency's decimals, a time, a date, a whole
number); every rule about stores and deals is local_life's, and its refusals are shown by the field they name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.numbers import get_currency_precision

from services.web.domain import NotAnAmount, parse_amount, parse_count
from services.web.views.seller_local import TIMEZONES, WEEKDAYS, DayRange, LocalForm

# Opening hours per weekday on the store form: this many (opens, closes) pairs, more if a store already has more.
HOURS_PAIRS = 2
REPORT_DAYS = 7  # the redemptions report's default range: the last 7 days, today included
TEAM_WINDOW_H = 24  # a team buy's window on a new deal (local_life's default)
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DEGREES = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")

Posted = Mapping[str, list[str]]


def _text(values: Posted, name: str) -> str:
    found = values.get(name)
    return found[-1].strip() if found else ""


def hours_field(day: int, pair: int, end: str) -> str:
    """The store form's field of one time: `hours-0-1-closes` (Monday, second pair, closing time)."""
    return f"hours-{day}-{pair}-{end}"


def hours_pairs(values: Posted) -> int:
    """How many (opens, closes) pairs per weekday a store form shows."""
    pairs = HOURS_PAIRS
    for key in values:
        found = re.match(r"^hours-\d-(\d+)-", key)
        if found:
            pairs = max(pairs, min(int(found.group(1)) + 1, 8))
    return pairs


# --- times -------------------------------------------------------------------------------------------------------


def closing_time(text: str) -> str:
    """A closing time as local_life reads it: midnight at the end of the day is 24:00 (a time field says 00:00)."""
    return "24:00" if text == "00:00" else text


def shown_closing_time(text: str) -> str:
    """A closing time as a time field shows it (24:00 is 00:00)."""
    return "00:00" if text == "24:00" else text


def check_time(text: str) -> str:
    if not _HHMM.match(text):
        raise NotAnAmount("Enter a time such as 09:30")
    return text


def parse_day(text: str) -> date:
    """`YYYY-MM-DD` as a date."""
    if not _DAY.match(text):
        raise NotAnAmount("Enter a date such as 2025-12-31")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise NotAnAmount("Enter a date such as 2025-12-31") from None


def zone(name: str) -> ZoneInfo:
    """The time zone named (UTC for a name this machine does not know)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def on_clock(at: datetime, timezone: str) -> datetime:
    """`at` on a clock of the time zone (a store's): what a clerk reads as 14:05."""
    return at.astimezone(zone(timezone))


def day_start(day: date, timezone: str) -> datetime:
    """Midnight starting `day` in the time zone, in UTC."""
    return datetime.combine(day, time(), tzinfo=zone(timezone)).astimezone(UTC)


# --- stores --------------------------------------------------------------------------------------------------------


def store_values(store: Mapping[str, object]) -> dict[str, list[str]]:
    """A store's form filled with what local_life has (to edit it)."""
    values = {name: [str(store.get(name, ""))] for name in ("name", "address", "lat", "lng", "phone", "timezone")}
    hours = store.get("opening_hours") or {}
    assert isinstance(hours, dict)
    for day, ranges in hours.items():
        for pair, (opens, closes) in enumerate(ranges):
            values[hours_field(int(day), pair, "opens")] = [opens]
            values[hours_field(int(day), pair, "closes")] = [shown_closing_time(closes)]
    return values


def _degrees(form: LocalForm, name: str) -> float | None:
    text = _text(form.values, name)
    if not _DEGREES.match(text):
        form.errors[name] = "Enter degrees as a decimal number, such as 31.2304"
        return None
    return float(text)


def read_store_form(values: Posted) -> LocalForm:
    """The store form as local_life's body: details and opening hours (a pair left blank is no range)."""
    form = LocalForm(values={k: list(v) for k, v in values.items()})
    hours: dict[str, list[list[str]]] = {}
    for day, _name in WEEKDAYS:
        for pair in range(hours_pairs(values)):
            opens, closes = (_text(values, hours_field(day, pair, end)) for end in ("opens", "closes"))
            if not opens and not closes:
                continue
            if not opens or not closes:
                form.errors[f"hours-{day}"] = "Give both the opening and the closing time"
                continue
            try:
                hours.setdefault(str(day), []).append([check_time(opens), closing_time(check_time(closes))])
            except NotAnAmount as exc:
                form.errors[f"hours-{day}"] = str(exc)
    form.body = {
        "name": _text(values, "name"),
        "address": _text(values, "address"),
        "lat": _degrees(form, "lat"),
        "lng": _degrees(form, "lng"),
        "phone": _text(values, "phone"),
        "timezone": _text(values, "timezone") or "UTC",
        "opening_hours": hours,
    }
    return form


def store_error_field(api_field: str | None) -> str:
    """The store form's field an API's `field` names (`opening_hours.3[0][1]` -> `hours-3`); "" for the form."""
    if not api_field:
        return ""
    if api_field in ("name", "address", "lat", "lng", "phone", "timezone"):
        return api_field
    found = re.match(r"^opening_hours\.(\d)", api_field)
    return f"hours-{found.group(1)}" if found else ""


# --- deals ---------------------------------------------------------------------------------------------------------

DEAL_COUNTS = ("vouchers_per_purchase", "per_visit_limit", "per_buyer_limit", "total_quantity", "team_size")


def _optional_count(form: LocalForm, name: str) -> int | None:
    text = _text(form.values, name)
    if not text:
        return None
    try:
        return parse_count(text)
    except NotAnAmount as exc:
        form.errors[name] = str(exc)
        return None


def _amount(form: LocalForm, name: str, currency: str) -> int | None:
    try:
        return parse_amount(_text(form.values, name), currency)
    except NotAnAmount as exc:
        form.errors[name] = str(exc)
        return None


def _window_day(form: LocalForm, name: str) -> date | None:
    text = _text(form.values, name)
    try:
        return parse_day(text)
    except NotAnAmount as exc:
        form.errors[name] = str(exc)
        return None


def read_deal_form(values: Posted, currency: str) -> LocalForm:
    """The deal form as local_life's body (a draft's terms). Every optional term is sent, `null` when left blank, so
    the same body makes a draft and changes one (a term cleared is cleared)."""
    form = LocalForm(values={k: list(v) for k, v in values.items()})
    body: dict[str, object] = {
        "title": _text(values, "title"),
        "description": _text(values, "description"),
        "currency": currency,
        "price_minor": _amount(form, "price", currency),
        "original_value_minor": _amount(form, "value", currency),
        "vouchers_per_purchase": _optional_count(form, "vouchers_per_purchase"),
        "per_visit_limit": _optional_count(form, "per_visit_limit"),
        "per_buyer_limit": _optional_count(form, "per_buyer_limit"),
        "total_quantity": _optional_count(form, "total_quantity"),
        "team_size": _optional_count(form, "team_size"),
        "auto_refund_at_expiry": form.has("auto_refund_at_expiry", "1"),
        "all_stores": form.has("all_stores", "1"),
        "store_ids": [] if form.has("all_stores", "1") else list(dict.fromkeys(values.get("store_id", []))),
    }
    if body["vouchers_per_purchase"] is None:
        body["vouchers_per_purchase"] = 1
    window_h = _optional_count(form, "team_window_h")
    body["team_window_s"] = (window_h if window_h is not None else TEAM_WINDOW_H) * 3600
    # Validity: days after purchase, or a window of whole days in a chosen time zone (first day to last day).
    body["valid_days"] = body["valid_from"] = body["valid_until"] = None
    if form.get("validity", "days") == "window":
        tz = _text(values, "window_timezone") or "UTC"
        first, last = _window_day(form, "valid_from"), _window_day(form, "valid_until")
        body["valid_from"] = day_start(first, tz).isoformat() if first else None
        body["valid_until"] = day_start(last + timedelta(days=1), tz).isoformat() if last else None
    else:
        body["valid_days"] = _optional_count(form, "valid_days")
    weekdays = sorted({int(d) for d in values.get("usage_weekday", []) if d in {str(n) for n, _ in WEEKDAYS}})
    if not weekdays:
        form.errors["usage_weekdays"] = "Choose at least one weekday"
    body["usage_weekdays"] = weekdays
    usage_from, usage_to = _text(values, "usage_from"), _text(values, "usage_to")
    body["usage_hours"] = None
    if usage_from or usage_to:
        try:
            body["usage_hours"] = [check_time(usage_from), closing_time(check_time(usage_to))]
        except NotAnAmount as exc:
            form.errors["usage_hours"] = str(exc)
    form.body = body
    return form


def new_deal_values(timezone: str, store_ids: list[str]) -> dict[str, list[str]]:
    """The new-deal form's defaults: one voucher, valid 30 days, every weekday, refunded at expiry (these stores)."""
    return {
        "store_id": list(store_ids),
        "vouchers_per_purchase": ["1"],
        "validity": ["days"],
        "valid_days": ["30"],
        "window_timezone": [timezone],
        "usage_weekday": [str(n) for n, _ in WEEKDAYS],
        "auto_refund_at_expiry": ["1"],
        "team_window_h": [str(TEAM_WINDOW_H)],
    }


def amount_text(amount_minor: int, currency: str) -> str:
    """Minor units as a form shows them for typing again: 1250 USD -> `12.50` (no symbol, no separators)."""
    return str(Decimal(amount_minor).scaleb(-get_currency_precision(currency)))


def _midnight(at: datetime, timezone: str) -> bool:
    local_at = at.astimezone(zone(timezone))
    return (local_at.hour, local_at.minute, local_at.second, local_at.microsecond) == (0, 0, 0, 0)


def window_zone(valid_from: datetime, valid_until: datetime, candidates: list[str]) -> str:
    """The time zone a window of whole days was typed in: the first of `candidates` (the deal's stores' first) in
    which both its ends are midnight; else the first candidate (the window is then shown as the days it touches)."""
    for name in [*candidates, *TIMEZONES]:
        if _midnight(valid_from, name) and _midnight(valid_until, name):
            return name
    return candidates[0] if candidates else "UTC"


def deal_values(deal: Mapping[str, object], timezones: list[str]) -> dict[str, list[str]]:
    """A draft's form filled with its terms (to edit it); a window shown as whole days in the time zone it was made
    in (of `timezones`, the deal's stores' first)."""
    timezone = timezones[0] if timezones else "UTC"

    def text(value: object) -> list[str]:
        return [] if value is None else [str(value)]

    values: dict[str, list[str]] = {
        "title": text(deal["title"]),
        "description": text(deal.get("description")),
        "price": [amount_text(int(str(deal["price_minor"])), str(deal["currency"]))],
        "value": [amount_text(int(str(deal["original_value_minor"])), str(deal["currency"]))],
        "window_timezone": [timezone],
        "usage_weekday": [str(d) for d in deal.get("usage_weekdays") or []],  # type: ignore[attr-defined]
        "store_id": [str(s) for s in deal.get("store_ids") or []],  # type: ignore[attr-defined]
        "team_window_h": [str(int(str(deal.get("team_window_s") or TEAM_WINDOW_H * 3600)) // 3600)],
    }
    for name in DEAL_COUNTS:
        values[name] = text(deal.get(name))
    if deal.get("auto_refund_at_expiry"):
        values["auto_refund_at_expiry"] = ["1"]
    if deal.get("all_stores"):
        values["all_stores"] = ["1"]
    hours = deal.get("usage_hours")
    if isinstance(hours, list) and len(hours) == 2:
        values["usage_from"], values["usage_to"] = [hours[0]], [shown_closing_time(hours[1])]
    if deal.get("valid_days") is not None:
        values["validity"], values["valid_days"] = ["days"], text(deal["valid_days"])
    else:
        values["validity"] = ["window"]
        starts, ends = deal.get("valid_from"), deal.get("valid_until")
        if isinstance(starts, str) and isinstance(ends, str):
            first, after = datetime.fromisoformat(starts), datetime.fromisoformat(ends)
            timezone = window_zone(first, after, timezones)
            tz = zone(timezone)
            values["window_timezone"] = [timezone]
            values["valid_from"] = [first.astimezone(tz).date().isoformat()]
            # The window ends at midnight after its last day.
            values["valid_until"] = [(after.astimezone(tz) - timedelta(microseconds=1)).date().isoformat()]
    return values


_DEAL_FIELDS = {
    "title": "title",
    "description": "description",
    "price_minor": "price",
    "currency": "price",
    "original_value_minor": "value",
    "vouchers_per_purchase": "vouchers_per_purchase",
    "valid_from": "valid_from",
    "valid_until": "valid_until",
    "valid_days": "valid_days",
    "usage_weekdays": "usage_weekdays",
    "usage_hours": "usage_hours",
    "per_visit_limit": "per_visit_limit",
    "per_buyer_limit": "per_buyer_limit",
    "total_quantity": "total_quantity",
    "auto_refund_at_expiry": "auto_refund_at_expiry",
    "team_size": "team_size",
    "team_window_s": "team_window_h",
    "all_stores": "stores",
    "store_ids": "stores",
}


def deal_error_field(api_field: str | None) -> str:
    """The deal form's field an API's `field` names (`store_ids[1]` -> `stores`, `usage_hours[0]` -> `usage_hours`)."""
    if not api_field:
        return ""
    return _DEAL_FIELDS.get(re.split(r"[\[.]", api_field, maxsplit=1)[0], "")


def window_of(form: LocalForm) -> str:
    """Which validity the form shows chosen: `days` or `window`."""
    return "window" if form.get("validity") == "window" else "days"


# --- the redemptions report ----------------------------------------------------------------------------------------


def report_range(values: Mapping[str, str], today: date) -> DayRange:
    """The days asked for (`from`, `to`), by default the last `REPORT_DAYS` days, today included."""
    default_from = today - timedelta(days=REPORT_DAYS - 1)
    chosen = DayRange(
        from_text=values.get("from", "").strip() or default_from.isoformat(),
        to_text=values.get("to", "").strip() or today.isoformat(),
    )
    for name, text in (("from", chosen.from_text), ("to", chosen.to_text)):
        try:
            setattr(chosen, f"{name}_day", parse_day(text))
        except NotAnAmount as exc:
            chosen.errors[name] = str(exc)
    return chosen


def totals_by_currency(rows: list[Mapping[str, object]]) -> list[tuple[str, int, int]]:
    """(currency, redemptions, amount) over report rows, by currency."""
    totals: dict[str, tuple[int, int]] = {}
    for row in rows:
        currency = str(row.get("currency") or "")
        count, amount = totals.get(currency, (0, 0))
        totals[currency] = (count + int(str(row["redemptions"])), amount + int(str(row["amount_minor"])))
    return [(currency, count, amount) for currency, (count, amount) in sorted(totals.items())]
