"""The seller's live pages without I/O: the schedule and publish forms read into API bodies, an API's `field` mapped
to the form's, the statuses and segments the pages list. Pure functions (the clock is passed in)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

ROOM_STATUSES = ("live", "scheduled", "ended")
SEGMENTS = ("prospect", "new", "active", "paying", "loyal", "at_risk")
MAX_ANCHORS = 20
# A `datetime-local` input's value (seconds optional), read as UTC: every time on these pages is shown in UTC.
_LOCAL_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?$")
_ANCHOR = re.compile(r"^(product|deal):([0-9a-fA-F-]{36})$")


@dataclass
class Parsed:
    """A form read: the API body (what only the page checks is done) and the errors by form field."""

    body: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def parse_start(text: str, now: datetime) -> datetime:
    """`2030-06-01T20:00` (UTC) -> an aware datetime; refuses other shapes, impossible dates, and the past."""
    found = _LOCAL_TIME.match(text.strip())
    if not found:
        raise ValueError("Enter the start as a date and time (UTC)")
    year, month, day, hour, minute = (int(part) for part in found.groups()[:5])
    try:
        at = datetime(year, month, day, hour, minute, int(found.group(6) or 0), tzinfo=UTC)
    except ValueError as exc:
        raise ValueError("Enter the start as a date and time (UTC)") from exc
    if at <= now:
        raise ValueError("Choose a start time in the future")
    return at


def read_room_form(values: dict[str, str], now: datetime) -> Parsed:
    """The schedule-a-room form as `POST /rooms`'s body; blanks are left out (the API says what is missing)."""
    parsed = Parsed()
    body = parsed.body
    body["title"] = values.get("title", "").strip()
    for name in ("host_id", "cover_url"):
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    if values.get("scheduled_start_at", "").strip():
        try:
            body["scheduled_start_at"] = parse_start(values["scheduled_start_at"], now).isoformat()
        except ValueError as exc:
            parsed.errors["scheduled_start_at"] = str(exc)
    return parsed


def read_room_changes(values: dict[str, str], now: datetime) -> Parsed:
    """The change-a-room form as `PATCH /rooms/{id}`'s body: every field sent, a blank cover or start clearing it."""
    parsed = Parsed()
    body = parsed.body
    body["title"] = values.get("title", "").strip()
    body["cover_url"] = values.get("cover_url", "").strip() or None
    body["scheduled_start_at"] = None
    if values.get("scheduled_start_at", "").strip():
        try:
            body["scheduled_start_at"] = parse_start(values["scheduled_start_at"], now).isoformat()
        except ValueError as exc:
            parsed.errors["scheduled_start_at"] = str(exc)
    return parsed


def parse_duration(text: str) -> float:
    """Seconds, such as `45` or `12.5`: more than 0, at most a day."""
    try:
        seconds = Decimal(text.strip())
    except InvalidOperation as exc:
        raise ValueError("Enter the length in seconds, such as 45") from exc
    if not seconds.is_finite() or seconds <= 0 or seconds > 86400:
        raise ValueError("Enter the length in seconds, such as 45")
    return float(seconds)


def read_video_form(values: dict[str, str], anchors: list[str]) -> Parsed:
    """The publish-a-video form as `POST /videos`'s body: the ticked products and deals become its anchors, in the
    order the form lists them."""
    parsed = Parsed()
    body = parsed.body
    body["title"] = values.get("title", "").strip()
    body["media_url"] = values.get("media_url", "").strip()
    for name in ("cover_url", "host_id"):
        if values.get(name, "").strip():
            body[name] = values[name].strip()
    try:
        body["duration_s"] = parse_duration(values.get("duration_s", ""))
    except ValueError as exc:
        parsed.errors["duration_s"] = str(exc)
    chosen = []
    for value in anchors:
        found = _ANCHOR.match(value)
        if found and value not in chosen:
            chosen.append(value)
    if not chosen:
        parsed.errors["anchors"] = "Choose at least one product or deal"
    elif len(chosen) > MAX_ANCHORS:
        parsed.errors["anchors"] = "Choose at most 20 products and deals"
    body["anchors"] = [{f"{kind}_id": item_id} for kind, item_id in (value.split(":", 1) for value in chosen)]
    return parsed


def form_field(api_field: str | None, fields: tuple[str, ...]) -> str:
    """The form field an API's `field` names (`anchors[3]` -> `anchors`; `$.title` -> `title`); "" for the form."""
    if not api_field:
        return ""
    name = re.sub(r"^\$\.", "", api_field)
    name = re.split(r"[\[.]", name, maxsplit=1)[0]
    return name if name in fields else ""


def status_of(asked: str | None) -> str | None:
    """A room status the listing pages by, or None (every status' first page)."""
    return asked if asked in ROOM_STATUSES else None


def hosts_of(host_ids: list[str]) -> list[str]:
    """The distinct hosts named, in name order: the choices a form offers for `host_id`."""
    return sorted(set(host_ids))
