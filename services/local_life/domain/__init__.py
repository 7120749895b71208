"""Stores, clerks and deals: what they are and the rules their values and moves follow (no I/O)."""

from __future__ import annotations

import base64
import binascii
import re
import zoneinfo
from datetime import datetime

import msgspec

from libs.ids import is_uuid
from services.local_life.domain.refusals import (
    DealEnded,
    DealNotDraft,
    DuplicateStore,
    InvalidCursor,
    InvalidTerms,
    ValidityOver,
)

STORE_STATUSES = ("open", "closed")
DEAL_STATUSES = ("draft", "published", "ended")
WEEKDAYS = (0, 1, 2, 3, 4, 5, 6)  # 0 = Monday
_HHMM = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$")


class DealTerms(msgspec.Struct, kw_only=True):
    """What a deal sells and on which terms: fixed once published (vouchers carry the terms they were sold on)."""

    title: str
    description: str = ""
    price_minor: int
    original_value_minor: int
    currency: str
    vouchers_per_purchase: int = 1
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    valid_days: int | None = None
    usage_weekdays: list[int] = msgspec.field(default_factory=lambda: list(WEEKDAYS))
    usage_hours: list[str] | None = None
    per_visit_limit: int | None = None
    total_quantity: int | None = None
    per_buyer_limit: int | None = None
    auto_refund_at_expiry: bool = True
    team_size: int | None = None
    team_window_s: int = 86400
    all_stores: bool = False


class DealState(msgspec.Struct, kw_only=True):
    """A deal as the rules about its moves see it."""

    deal_id: str
    merchant_id: str
    status: str
    terms: DealTerms
    store_ids: list[str]


class Clerk(msgspec.Struct, frozen=True, kw_only=True):
    """An active clerk at a store, as a clerk's token proves it (the start of every redemption)."""

    clerk_id: str
    name: str
    store_id: str
    merchant_id: str


def _refuse(detail: str, field: str, code: str) -> InvalidTerms:
    return InvalidTerms(detail, field=field, code=code)


def check_range(pair: list[str], field: str) -> list[str]:
    """["HH:MM", "HH:MM"] with the start before the end (the end may be 24:00); overnight is two ranges."""
    if len(pair) != 2:
        raise _refuse("a range is [start, end]", field, "invalid-hours")
    start, end = pair
    for index, value in enumerate(pair):
        if not _HHMM.match(value):
            raise _refuse("a time is HH:MM (00:00 to 24:00)", f"{field}[{index}]", "invalid-hours")
    if start == "24:00" or start >= end:
        raise _refuse("a range starts before it ends (overnight: split at 24:00)", field, "invalid-hours")
    return [start, end]


def check_opening_hours(hours: dict[int, list[list[str]]]) -> dict[str, list[list[str]]]:
    """Weekday (0 = Monday .. 6) -> sorted, non-overlapping ranges; stored with string keys as JSON has them."""
    checked: dict[str, list[list[str]]] = {}
    for day in sorted(hours):
        if day not in WEEKDAYS:
            raise _refuse("a weekday is 0 (Monday) to 6 (Sunday)", f"opening_hours.{day}", "invalid-weekday")
        ranges = [check_range(pair, f"opening_hours.{day}[{i}]") for i, pair in enumerate(hours[day])]
        ranges.sort()
        for i in range(1, len(ranges)):
            if ranges[i][0] < ranges[i - 1][1]:
                raise _refuse("ranges of one day overlap", f"opening_hours.{day}", "invalid-hours")
        checked[str(day)] = ranges
    return checked


def check_timezone(name: str) -> str:
    """An IANA time zone name (`Asia/Shanghai`)."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _refuse("not an IANA time zone", "timezone", "invalid-timezone") from None
    return name


def check_terms(terms: DealTerms) -> DealTerms:
    """Refuse terms that do not make sense together, naming the field; the checked terms otherwise."""
    if terms.original_value_minor < terms.price_minor:
        raise _refuse("the original value is at least the price", "original_value_minor", "value-below-price")
    absolute = terms.valid_from is not None or terms.valid_until is not None
    if absolute and terms.valid_days is not None:
        detail = "validity is a window or a number of days after purchase, not both"
        raise _refuse(detail, "valid_days", "validity-both")
    if not absolute and terms.valid_days is None:
        raise _refuse("give valid_from and valid_until, or valid_days", "valid_days", "validity-missing")
    if absolute:
        if terms.valid_from is None:
            raise _refuse("a window needs its start", "valid_from", "validity-window")
        if terms.valid_until is None:
            raise _refuse("a window needs its end", "valid_until", "validity-window")
        if terms.valid_from >= terms.valid_until:
            raise _refuse("the window starts before it ends", "valid_until", "validity-window")
    weekdays = terms.usage_weekdays
    if not weekdays:
        raise _refuse("usable on at least one weekday", "usage_weekdays", "invalid-weekday")
    for index, day in enumerate(weekdays):
        if day not in WEEKDAYS:
            raise _refuse("a weekday is 0 (Monday) to 6 (Sunday)", f"usage_weekdays[{index}]", "invalid-weekday")
        if day in weekdays[:index]:
            raise _refuse("this weekday is named twice", f"usage_weekdays[{index}]", "invalid-weekday")
    usage_hours = check_range(terms.usage_hours, "usage_hours") if terms.usage_hours is not None else None
    return msgspec.structs.replace(terms, usage_weekdays=sorted(weekdays), usage_hours=usage_hours)


def check_store_ids(store_ids: list[str], all_stores: bool) -> None:
    """Each store named once; and either all the merchant's stores or a list, not both."""
    if all_stores and store_ids:
        raise _refuse("all_stores sells at every store; leave store_ids out", "store_ids", "stores-ambiguous")
    for index, store_id in enumerate(store_ids):
        if store_id in store_ids[:index]:
            raise DuplicateStore(index)


def ensure_draft(deal: DealState) -> None:
    """Only a draft's terms change."""
    if deal.status != "draft":
        raise DealNotDraft(deal.status)


def ensure_publishable(deal: DealState, now: datetime) -> None:
    """A draft (or an already published deal: publishing again is a no-op) whose window has not closed."""
    if deal.status == "ended":
        raise DealEnded()
    if deal.status == "draft" and deal.terms.valid_until is not None and deal.terms.valid_until <= now:
        raise ValidityOver()


# --- cursors ---------------------------------------------------------------------------------------


class _NearbyCursor(msgspec.Struct, array_like=True):
    lat: float
    lng: float
    radius_m: int
    distance_m: float
    deal_id: str


class _SearchCursor(msgspec.Struct, array_like=True):
    q: str
    score: float
    deal_id: str


class _ListCursor(msgspec.Struct, array_like=True):
    created_at: datetime
    id: str


def _encode(value: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).decode().rstrip("=")


def _decode(cursor: str, kind: type):
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor() from exc
    return decoded


def nearby_cursor(lat: float, lng: float, radius_m: int, distance_m: float, deal_id: str) -> str:
    """The position after a page of /deals/nearby, bound to the point and radius it was asked for."""
    return _encode(_NearbyCursor(lat, lng, radius_m, distance_m, deal_id))


def after_nearby(cursor: str, lat: float, lng: float, radius_m: int) -> tuple[float, str]:
    """(distance, deal id) a cursor names; refused if it is not ours or was given out for another query."""
    decoded = _decode(cursor, _NearbyCursor)
    if (decoded.lat, decoded.lng, decoded.radius_m) != (lat, lng, radius_m) or not is_uuid(decoded.deal_id):
        raise InvalidCursor()
    return decoded.distance_m, decoded.deal_id


def search_cursor(q: str, score: float, deal_id: str) -> str:
    """The position after a page of /deals?q=, bound to the query."""
    return _encode(_SearchCursor(q, score, deal_id))


def after_search(cursor: str, q: str) -> tuple[float, str]:
    decoded = _decode(cursor, _SearchCursor)
    if decoded.q != q or not is_uuid(decoded.deal_id):
        raise InvalidCursor()
    return decoded.score, decoded.deal_id


def list_cursor(created_at: datetime, id_: str) -> str:
    """The position after a page of a merchant's stores or deals (newest first)."""
    return _encode(_ListCursor(created_at, id_))


def after_list(cursor: str) -> tuple[datetime, str]:
    decoded = _decode(cursor, _ListCursor)
    if not is_uuid(decoded.id):
        raise InvalidCursor()
    return decoded.created_at, decoded.id
