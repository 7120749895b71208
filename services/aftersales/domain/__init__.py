"""aftersales' rules: the case state machine, opening a case, the events a case makes, what it refuses."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import msgspec

from libs.ids import is_uuid
from services.aftersales.domain.cases import (
    DEADLINE_JOB,
    DONE,
    FINAL,
    KINDS,
    MOVES,
    REASON_CODES,
    RELEASED,
    STATES,
    Case,
    CaseUnits,
    Plan,
    deadline_of,
    ensure_movable,
    holds_replacement,
    is_final,
    next_action_of,
    out_of_stock,
    plan,
    timeout_of,
)
from services.aftersales.domain.refusals import InvalidCursor, InvalidStatus


class _Cursor(msgspec.Struct, array_like=True):
    created_at: datetime
    case_id: str


def encode_cursor(created_at: datetime, case_id: str) -> str:
    """An opaque position after which the next page starts."""
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(created_at, case_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names; refuses one that is not ours."""
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor() from exc
    if not is_uuid(decoded.case_id):
        raise InvalidCursor()
    return decoded.created_at, decoded.case_id


def ensure_status(status: str) -> None:
    """Refuse a status filter that names no state."""
    if status not in STATES:
        raise InvalidStatus()


__all__ = [
    "DEADLINE_JOB",
    "DONE",
    "FINAL",
    "holds_replacement",
    "KINDS",
    "MOVES",
    "REASON_CODES",
    "RELEASED",
    "STATES",
    "Case",
    "CaseUnits",
    "Plan",
    "deadline_of",
    "decode_cursor",
    "encode_cursor",
    "ensure_movable",
    "ensure_status",
    "is_final",
    "next_action_of",
    "out_of_stock",
    "plan",
    "timeout_of",
]
