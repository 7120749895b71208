"""Redemption at the counter: whether a voucher is usable at a store now, and what prepare, verify and undo refuse
(no I/O)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from libs.errors import Conflict, Invalid, NotFound

# How a verify token is handed out: 32 random bytes, urlsafe; the table keeps its SHA-256.
TOKEN_BYTES = 32


# --- refusals ---------------------------------------------------------------------------------------


class VoucherNotUsable(Conflict):
    """A voucher of this merchant that cannot be used here now; `reason` says why."""

    code = "voucher-not-usable"

    _DETAILS = {
        "wrong-store": "this voucher is not for this store",
        "outside-usage-hours": "this voucher is not usable at this hour or weekday",
        "expired": "this voucher has expired",
        "not-yet-valid": "this voucher is not valid yet",
        "refunded": "this voucher was refunded",
        "already-redeemed": "this voucher was already used",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self._DETAILS.get(reason, "this voucher is not usable here now"), reason=reason)


class CodeOrQr(Invalid):
    code = "code-or-qr"

    def __init__(self) -> None:
        super().__init__("give the voucher's code or its QR payload, one of them", field="code")


class VerifyTokenNotFound(NotFound):
    code = "verify-token-not-found"

    def __init__(self) -> None:
        super().__init__("no such verify token at this store", field="verify_token")


class VerifyTokenExpired(Conflict):
    code = "verify-token-expired"

    def __init__(self) -> None:
        super().__init__("this verify token has expired; prepare again", field="verify_token")


class VoucherNotOffered(Invalid):
    code = "voucher-not-offered"

    def __init__(self, index: int) -> None:
        super().__init__("this voucher was not offered with this verify token", field=f"voucher_ids[{index}]")


class DuplicateVoucher(Invalid):
    code = "duplicate-voucher"

    def __init__(self, index: int) -> None:
        super().__init__("this voucher is named twice", field=f"voucher_ids[{index}]")


class OverPerVisitLimit(Invalid):
    code = "over-per-visit-limit"

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} vouchers of this deal per visit", field="voucher_ids", limit=limit)


class RedemptionNotFound(NotFound):
    code = "redemption-not-found"

    def __init__(self) -> None:
        super().__init__("no such redemption at this store")


class UndoWindowClosed(Conflict):
    code = "undo-window-closed"

    def __init__(self, window_s: int) -> None:
        super().__init__(f"a redemption can be undone within {window_s} s only", undo_window_s=window_s)


class InvalidDay(Invalid):
    code = "invalid-day"

    def __init__(self) -> None:
        super().__init__("a day is YYYY-MM-DD", field="day")


class AlreadyUndone(Conflict):
    code = "already-undone"

    def __init__(self) -> None:
        super().__init__("this redemption was already undone")


# --- usable here, now -------------------------------------------------------------------------------


class VoucherAtStore(msgspec.Struct, frozen=True, kw_only=True):
    """A voucher with what decides whether it is usable at one store: its state, the deal's terms, the store."""

    voucher_id: str
    status: str
    valid_from: datetime
    valid_until: datetime
    eligible_store: bool  # the deal is for all its merchant's stores, or names this one
    usage_weekdays: list[int]
    usage_hours: list[str] | None  # ["HH:MM", "HH:MM"] local to the store; None: the store's opening hours


class StoreClock(msgspec.Struct, frozen=True, kw_only=True):
    timezone: str
    opening_hours: dict[str, list[list[str]]]


def _minutes(hhmm: str) -> int:
    hours, _, minutes = hhmm.partition(":")
    return int(hours) * 60 + int(minutes)


def _within(ranges: list[list[str]], minute: int) -> bool:
    for pair in ranges:
        try:
            start, end = _minutes(pair[0]), _minutes(pair[1])
        except (ValueError, IndexError):
            continue
        if start <= minute < end:
            return True
    return False


def zone_of(store: StoreClock) -> ZoneInfo:
    """The store's time zone (UTC if its name is unknown to this machine)."""
    try:
        return ZoneInfo(store.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(store: StoreClock, now: datetime) -> datetime:
    return now.astimezone(zone_of(store))


def unusable_reason(voucher: VoucherAtStore, store: StoreClock, now: datetime) -> str | None:
    """Why the voucher cannot be used at this store now, or None when it can."""
    if voucher.status in ("refunded", "refund_pending"):
        return "refunded"
    if voucher.status == "redeemed":
        return "already-redeemed"
    if voucher.status == "expired" or now >= voucher.valid_until:
        return "expired"
    if not voucher.eligible_store:
        return "wrong-store"
    if now < voucher.valid_from:
        return "not-yet-valid"
    local = local_time(store, now)
    minute = local.hour * 60 + local.minute
    if local.weekday() not in voucher.usage_weekdays:
        return "outside-usage-hours"
    ranges = [voucher.usage_hours] if voucher.usage_hours is not None else store.opening_hours.get(str(local.weekday()))
    if not ranges or not _within(ranges, minute):
        return "outside-usage-hours"
    return None


# --- verify tokens ----------------------------------------------------------------------------------


def new_verify_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def check_chosen(chosen: list[str], offered: list[str]) -> None:
    """Each chosen voucher was offered with the token, and is named once (422 naming `voucher_ids[i]`)."""
    offered_set = set(offered)
    for index, voucher_id in enumerate(chosen):
        if voucher_id in chosen[:index]:
            raise DuplicateVoucher(index)
        if voucher_id not in offered_set:
            raise VoucherNotOffered(index)


def check_per_visit(chosen: int, per_visit_limit: int | None) -> None:
    if per_visit_limit is not None and chosen > per_visit_limit:
        raise OverPerVisitLimit(per_visit_limit)


def ensure_undoable(redeemed_at: datetime, undone_at: datetime | None, now: datetime, window_s: int) -> None:
    if undone_at is not None:
        raise AlreadyUndone()
    if now > redeemed_at + timedelta(seconds=window_s):
        raise UndoWindowClosed(window_s)


# --- a store's day of redemptions -------------------------------------------------------------------

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(9998, 12, 31)


def parse_day(text: str) -> date:
    """`YYYY-MM-DD` as a date (422 `invalid-day` naming `day` otherwise)."""
    if not _DAY.match(text):
        raise InvalidDay()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidDay() from None
    if not FIRST_DAY <= day <= LAST_DAY:  # and its instants stay within what a timestamptz holds either side
        raise InvalidDay()
    return day


def store_day(store: StoreClock, day: date) -> tuple[datetime, datetime]:
    """The instants a day of the store's time zone starts and ends (23 or 25 hours across a clock change)."""
    zone = zone_of(store)
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return start, end


def undoable_until(
    redeemed_at: datetime, undone_at: datetime | None, settled: bool, now: datetime, window_s: int
) -> datetime | None:
    """Until when the store may still undo a redemption, or None once it cannot (undone, settled, window over)."""
    until = redeemed_at + timedelta(seconds=window_s)
    if undone_at is not None or settled or now > until:
        return None
    return until
