"""Vouchers: their codes (what a buyer shows a clerk), QR payloads, validity and which paid lines get them (no I/O).

A code is 20 characters of Crockford base32 (100 random bits from `secrets`) and a mod-37 check character
(Crockford's check symbols), shown in groups of five: `XXXXX-XXXXX-XXXXX-XXXXX-C`. Read back leniently (case,
dashes, spaces, I/L for 1, O for 0); a typo is caught by the check character before any lookup. The table keeps
its SHA-256 (a leaked table does not leak usable codes), its last 4 characters for masking, and the code sealed
with the service's voucher secret so the buyer can be shown it again (sealing: XOR with an HMAC-SHA256 keystream
keyed by the secret and the voucher id, which is unique; opening it is checked against the hash).

A QR payload is `v1.<voucher_id>.<mac>`: the voucher id signed with the same secret (a separate HMAC key), not
the code, so a photographed QR code is worthless once the voucher is used, and forging one needs the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import msgspec

from libs.contracts import OrderPaid
from libs.errors import Invalid, NotFound
from libs.ids import canonical_uuid
from services.local_life.domain.refusals import InvalidCursor

# Crockford base32: no I, L, O, U (read as 1, 1, 0; U is a check symbol only).
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CHECK_SYMBOLS = ALPHABET + "*~$=U"
CODE_CHARS = 20  # 100 bits
GROUP = 5
_VALUE = {c: i for i, c in enumerate(ALPHABET)}
_CHECK_VALUE = {c: i for i, c in enumerate(CHECK_SYMBOLS)}
_LENIENT = str.maketrans({"I": "1", "L": "1", "O": "0"})
_SEAL_BYTES = (CODE_CHARS * 5 + 7) // 8  # 13
_MAC_BYTES = 16


# --- refusals ---------------------------------------------------------------------------------------


class VoucherNotFound(NotFound):
    """An unknown code, a QR payload we did not sign, or a voucher of another merchant: all answer the same."""

    code = "voucher-not-found"

    def __init__(self, detail: str = "no voucher with this code") -> None:
        super().__init__(detail)


class VoucherCodeTypo(Invalid):
    """Not a voucher code at all, or one whose check character does not match: mistyped, never looked up."""

    code = "voucher-code-typo"

    def __init__(self) -> None:
        super().__init__("this is not a valid voucher code; check it for a typo", field="code")


# --- codes ------------------------------------------------------------------------------------------


def _check_symbol(body: str) -> str:
    value = 0
    for char in body:
        value = value * 32 + _VALUE[char]
    return CHECK_SYMBOLS[value % 37]


def new_code() -> str:
    """A fresh code in canonical form: 20 random Crockford characters and the check character (21, no dashes)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return body + _check_symbol(body)


def format_code(code: str) -> str:
    """A canonical code in groups for people: `XXXXX-XXXXX-XXXXX-XXXXX-C`."""
    body = code[:CODE_CHARS]
    groups = [body[i : i + GROUP] for i in range(0, CODE_CHARS, GROUP)]
    return "-".join([*groups, code[CODE_CHARS:]])


def parse_code(text: str) -> str:
    """The canonical form of a code as someone typed it, or VoucherCodeTypo (wrong length, symbol or check)."""
    cleaned = "".join(text.split()).replace("-", "").upper()
    if len(cleaned) != CODE_CHARS + 1:
        raise VoucherCodeTypo()
    body, check = cleaned[:CODE_CHARS].translate(_LENIENT), cleaned[CODE_CHARS:]
    if check in "IL":
        check = "1"
    elif check == "O":
        check = "0"
    if any(c not in _VALUE for c in body) or check not in _CHECK_VALUE or _check_symbol(body) != check:
        raise VoucherCodeTypo()
    return body + check


def code_hash(code: str) -> bytes:
    """What the table keeps to find a voucher by its canonical code."""
    return hashlib.sha256(code.encode()).digest()


def code_last4(code: str) -> str:
    """The last 4 random characters (the check character aside): enough for a clerk to match a masked code."""
    return code[CODE_CHARS - 4 : CODE_CHARS]


def masked_code(last4: str) -> str:
    """What a clerk is shown of a voucher's code."""
    return f"****-…-{last4}"


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), f"liveloop.local_life.voucher.{purpose}".encode(), hashlib.sha256).digest()


def _keystream(secret: str, voucher_id: str) -> bytes:
    return hmac.new(_key(secret, "seal"), voucher_id.encode(), hashlib.sha256).digest()[:_SEAL_BYTES]


def _bits(code: str) -> int:
    value = 0
    for char in code[:CODE_CHARS]:
        value = value * 32 + _VALUE[char]
    return value


def seal_code(code: str, voucher_id: str, secret: str) -> bytes:
    """The code's 100 bits, sealed for this voucher with the service's secret."""
    raw = _bits(code).to_bytes(_SEAL_BYTES, "big")
    return bytes(a ^ b for a, b in zip(raw, _keystream(secret, voucher_id), strict=True))


def open_code(sealed: bytes, voucher_id: str, secret: str, expected_hash: bytes) -> str | None:
    """The canonical code a seal holds, or None if it does not open to the stored hash (another secret)."""
    raw = bytes(a ^ b for a, b in zip(sealed, _keystream(secret, voucher_id), strict=True))
    value = int.from_bytes(raw, "big")
    chars = []
    for _ in range(CODE_CHARS):
        chars.append(ALPHABET[value % 32])
        value //= 32
    body = "".join(reversed(chars))
    code = body + _check_symbol(body)
    return code if hmac.compare_digest(code_hash(code), expected_hash) else None


# --- QR payloads ------------------------------------------------------------------------------------


def _mac(voucher_id: str, secret: str) -> str:
    digest = hmac.new(_key(secret, "qr"), f"v1.{voucher_id}".encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def qr_payload(voucher_id: str, secret: str) -> str:
    """What a voucher's QR code holds: `v1.<voucher_id>.<mac>`."""
    return f"v1.{voucher_id}.{_mac(voucher_id, secret)}"


def qr_voucher_id(payload: str, secret: str) -> str | None:
    """The voucher id a QR payload names if we signed it, else None."""
    version, _, rest = payload.strip().partition(".")
    voucher_id, _, mac = rest.partition(".")
    canonical = canonical_uuid(voucher_id)
    if version != "v1" or canonical is None or canonical != voucher_id:
        return None
    return voucher_id if hmac.compare_digest(mac.encode(), _mac(voucher_id, secret).encode()) else None


# --- issuing ----------------------------------------------------------------------------------------


class DealForIssue(msgspec.Struct, frozen=True, kw_only=True):
    """What issuing needs of a deal: whose it is, how many vouchers a unit gives, and their validity."""

    deal_id: str
    merchant_id: str
    vouchers_per_purchase: int
    valid_from: datetime | None
    valid_until: datetime | None
    valid_days: int | None


class LineIssue(msgspec.Struct, frozen=True, kw_only=True):
    """The vouchers one paid line gets."""

    line_no: int
    deal_id: str
    count: int
    valid_from: datetime
    valid_until: datetime
    room_id: str | None
    flash_sale_id: str | None
    # Vouchers per purchase (unit), what the line cost, and its currency: each voucher's share (`voucher_amounts`).
    per_unit: int = 1
    amount_minor: int = 0
    currency: str | None = None


class SkippedLine(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    deal_id: str
    why: str


def validity(deal: DealForIssue, paid_at: datetime) -> tuple[datetime, datetime]:
    """The deal's window, or `valid_days` from payment."""
    if deal.valid_days is not None:
        return paid_at, paid_at + timedelta(days=deal.valid_days)
    assert deal.valid_from is not None
    assert deal.valid_until is not None
    return deal.valid_from, deal.valid_until


def plan_issue(event: OrderPaid, deals: dict[str, DealForIssue]) -> tuple[list[LineIssue], list[SkippedLine]]:
    """Per line with a deal: the vouchers to issue (quantity times vouchers per purchase), or why the line is skipped
    (a deal local_life does not know, or one of another merchant's)."""
    issues: list[LineIssue] = []
    skipped: list[SkippedLine] = []
    for line_no, line in enumerate(event.lines):
        if line.deal_id is None:
            continue
        deal = deals.get(canonical_uuid(line.deal_id) or "")
        if deal is None:
            skipped.append(SkippedLine(line_no=line_no, deal_id=line.deal_id, why="unknown deal"))
            continue
        if deal.merchant_id != canonical_uuid(event.merchant_id):
            skipped.append(SkippedLine(line_no=line_no, deal_id=line.deal_id, why="deal of another merchant"))
            continue
        if line.quantity < 1:
            skipped.append(SkippedLine(line_no=line_no, deal_id=line.deal_id, why="no units"))
            continue
        valid_from, valid_until = validity(deal, event.paid_at)
        issues.append(
            LineIssue(
                line_no=line_no,
                deal_id=deal.deal_id,
                count=line.quantity * deal.vouchers_per_purchase,
                valid_from=valid_from,
                valid_until=valid_until,
                room_id=line.room_id,
                flash_sale_id=line.flash_sale_id,
                per_unit=deal.vouchers_per_purchase,
                amount_minor=line.amount_minor,
                currency=event.currency,
            )
        )
    return issues, skipped


def voucher_amounts(amount_minor: int, count: int) -> list[int]:
    """A line's amount split over its `count` vouchers: equal shares, the remainder one minor unit each on the first
    ones, so they sum to the amount exactly."""
    share, rest = divmod(max(amount_minor, 0), count)
    return [share + (1 if i < rest else 0) for i in range(count)]


def unit_of(seq: int, per_unit: int) -> int:
    """The purchase (1-based) a line's `seq`-th voucher belongs to: a 3-visit card's vouchers 1-3 are unit 1."""
    return (seq - 1) // per_unit + 1


# --- the buyer's list -------------------------------------------------------------------------------


class _Cursor(msgspec.Struct, array_like=True):
    issued_at: datetime
    voucher_id: str


def encode_cursor(issued_at: datetime, voucher_id: str) -> str:
    """The position after a voucher in the buyer's list (newest first)."""
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(issued_at, voucher_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=_Cursor)
    except (ValueError, msgspec.DecodeError):
        raise InvalidCursor() from None
    if canonical_uuid(decoded.voucher_id) is None:
        raise InvalidCursor()
    return decoded.issued_at, decoded.voucher_id
