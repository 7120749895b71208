"""What the seller's local-life pages get: stores and clerks, deals and their voucher report, redemptions per store
per day and settlement. Plain data made by `use_cases.seller_local` from local_life's answers (times as datetimes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from services.web.views import Refusal

# Weekdays as local_life numbers them (0 = Monday); the names are msgids.
WEEKDAYS: tuple[tuple[int, str], ...] = (
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
)
# What the time-zone field suggests (any IANA name is accepted; local_life checks it).
TIMEZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Taipei",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Asia/Singapore",
    "Asia/Bangkok",
    "Asia/Kolkata",
    "Asia/Dubai",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Moscow",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "America/Mexico_City",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Johannesburg",
    "UTC",
)


@dataclass
class LocalForm:
    """What a merchant typed (each field's values: checkboxes repeat), the API body made of it, errors by field."""

    values: dict[str, list[str]]
    body: dict[str, object] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        """The field's (last) value as typed."""
        found = self.values.get(name)
        return found[-1] if found else default

    def has(self, name: str, value: str) -> bool:
        """Whether a checkbox or radio button of `name` with `value` is chosen."""
        return value in self.values.get(name, [])


@dataclass
class DayRange:
    """The report's days as typed, the dates read from them, and what is wrong by field."""

    from_text: str
    to_text: str
    from_day: date | None = None
    to_day: date | None = None
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class StoresPage:
    """The merchant's stores, and the form to add one."""

    stores: list[dict[str, Any]]
    form: LocalForm
    pairs: int
    next_cursor: str | None = None
    weekdays: ClassVar[tuple[tuple[int, str], ...]] = WEEKDAYS
    timezones: ClassVar[tuple[str, ...]] = TIMEZONES


@dataclass
class StoreHours:
    """One weekday of a store's opening hours: its name (a msgid) and its ranges (none: closed)."""

    weekday: int
    name: str
    ranges: list[tuple[str, str]]


@dataclass
class StorePage:
    """One store: details, opening hours, clerks, and the add-a-clerk form (with what was typed when refused)."""

    store: dict[str, Any]
    hours: list[StoreHours]
    clerks: list[dict[str, Any]]
    clerk_form: LocalForm
    refusal: Refusal | None = None


@dataclass
class StoreFormPage:
    """The form changing a store's details and opening hours."""

    store: dict[str, Any]
    form: LocalForm
    pairs: int
    weekdays: ClassVar[tuple[tuple[int, str], ...]] = WEEKDAYS
    timezones: ClassVar[tuple[str, ...]] = TIMEZONES


@dataclass
class DealsPage:
    """The merchant's deals, newest first, of one status or all."""

    deals: list[dict[str, Any]]
    status: str | None
    next_cursor: str | None = None


@dataclass
class DealFormPage:
    """A new deal's form or a draft's: the merchant's stores to choose from, the currency its amounts are in, and
    (for a new deal) the Idempotency-Key of this form."""

    form: LocalForm
    stores: list[dict[str, Any]]
    currency: str
    deal: dict[str, Any] | None = None
    key: str = ""
    weekdays: ClassVar[tuple[tuple[int, str], ...]] = WEEKDAYS
    timezones: ClassVar[tuple[str, ...]] = TIMEZONES


@dataclass
class DealPage:
    """One deal: its terms, the stores it names, its voucher report once on sale, and a refused move (publish)."""

    deal: dict[str, Any]
    stores: list[dict[str, Any]]
    report: dict[str, Any] | None = None
    refusal: Refusal | None = None
    refused_field: str | None = None
    weekdays: ClassVar[tuple[tuple[int, str], ...]] = WEEKDAYS


@dataclass
class ReportRow:
    """Redemptions (not undone) at one store on one of its days, in one currency."""

    day: date
    store_id: str
    store_name: str
    timezone: str
    currency: str
    redemptions: int
    amount_minor: int


@dataclass
class Settlement:
    settlement_id: str
    cut_at: datetime
    created_at: datetime
    totals: list[dict[str, Any]]


@dataclass
class RedemptionsPage:
    """Redemptions per store per day over a range of days, what a settlement would take now, past settlements."""

    days: DayRange
    rows: list[ReportRow]
    totals: list[tuple[str, int, int]]
    due_cut_at: datetime
    due: list[dict[str, Any]]
    settlements: list[Settlement]
    key: str
    now: datetime
    settled: Settlement | None = None
    refusal: Refusal | None = None
    more_settlements: bool = False
