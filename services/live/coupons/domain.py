"""Pure rules of coupon drops: what a drop may offer, when a buyer may claim, what "my coupons" pages are."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from libs.errors import BadRequest, Conflict, DomainError, NotFound
from libs.ids import is_uuid
from services.live.coupons.views import MyCoupon

KINDS = ("amount_off", "percent_off")
MAX_TOTAL = 1_000_000
# A bound that keeps sums of discounts far from bigint overflow; no real coupon comes near it.
MAX_AMOUNT_MINOR = 100_000_000_000
MAX_PER_BUYER = 100

Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
MinorAmount = Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT_MINOR)]


class NewCouponDrop(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a host or merchant drops: one offer, how many coupons, how many per buyer, until when."""

    kind: Literal["amount_off", "percent_off"]
    # Required for amount_off (>= 1); must be absent for percent_off.
    amount_off_minor: MinorAmount | None = None
    # Required for percent_off (1..100); must be absent for amount_off.
    percent_off: Annotated[int, msgspec.Meta(ge=1, le=100)] | None = None
    # Required for both kinds: a percentage coupon is still only good for orders in the room merchant's
    # currency, and live would otherwise have to guess it from its product replica.
    currency: Currency
    min_spend_minor: MinorAmount = 0
    per_buyer_limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PER_BUYER)] = 1
    total: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOTAL)]
    valid_until: Annotated[datetime, msgspec.Meta(tz=True)]


class CouponTerms(msgspec.Struct, frozen=True, kw_only=True):
    """A drop's offer, exactly as each of its coupons carries it."""

    kind: str
    amount_off_minor: int
    percent_off: int
    currency: str
    min_spend_minor: int
    valid_until: datetime


# --- refusals ---------------------------------------------------------------------------------


class InvalidDropTerms(BadRequest):
    """Terms that make no sense for the drop's kind or time (400, like a body that does not decode)."""

    code = "validation-failed"


class DropEnded(Conflict):
    code = "drop-ended"

    def __init__(self) -> None:
        super().__init__("this coupon drop was ended by the room")


class DropExpired(Conflict):
    code = "drop-expired"

    def __init__(self) -> None:
        super().__init__("this coupon drop has expired")


class ClaimedOut(Conflict):
    code = "claimed-out"

    def __init__(self) -> None:
        super().__init__("every coupon of this drop has been claimed")


class ClaimLimitReached(Conflict):
    code = "claim-limit-reached"

    def __init__(self, mine: int) -> None:
        super().__init__(f"you already hold {mine} coupon(s) of this drop, the most one buyer may")


class NotInRoom(Conflict):
    code = "not-in-room"

    def __init__(self) -> None:
        super().__init__("join the room (and keep watching) to claim its coupons")


class DropNotFound(NotFound):
    code = "not-found"

    def __init__(self) -> None:
        super().__init__("no such coupon drop in this room")


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API handed out", field="cursor")


# --- rules ------------------------------------------------------------------------------------


def drop_terms(asked: NewCouponDrop, now: datetime) -> CouponTerms:
    """The offer of a new drop, or 400 naming the field that makes no sense for its kind or time."""
    if asked.kind == "amount_off":
        if asked.amount_off_minor is None or asked.amount_off_minor < 1:
            raise InvalidDropTerms(
                "an amount_off coupon needs amount_off_minor of at least 1", field="amount_off_minor"
            )
        if asked.percent_off is not None:
            raise InvalidDropTerms("an amount_off coupon takes no percent_off", field="percent_off")
    else:
        if asked.percent_off is None:
            raise InvalidDropTerms("a percent_off coupon needs percent_off between 1 and 100", field="percent_off")
        if asked.amount_off_minor is not None:
            raise InvalidDropTerms("a percent_off coupon takes no amount_off_minor", field="amount_off_minor")
    if asked.per_buyer_limit > asked.total:
        raise InvalidDropTerms("per_buyer_limit cannot exceed total", field="per_buyer_limit")
    if asked.valid_until <= now:
        raise InvalidDropTerms("valid_until must be in the future", field="valid_until")
    return CouponTerms(
        kind=asked.kind,
        amount_off_minor=asked.amount_off_minor or 0,
        percent_off=asked.percent_off or 0,
        currency=asked.currency,
        min_spend_minor=asked.min_spend_minor,
        valid_until=asked.valid_until,
    )


def drop_refusal(*, status: str, valid_until: datetime, claimed: int, total: int, now: datetime) -> DomainError | None:
    """Why nobody may claim from the drop right now, or None (checked under the drop's row lock)."""
    if status != "open":
        return DropEnded()
    if valid_until <= now:
        return DropExpired()
    if claimed >= total:
        return ClaimedOut()
    return None


def limit_refusal(*, mine: int, per_buyer_limit: int) -> DomainError | None:
    """Why this buyer may claim no more from the drop, or None (their count is exact under the drop's row lock)."""
    if mine >= per_buyer_limit:
        return ClaimLimitReached(mine)
    return None


class _Cursor(msgspec.Struct, array_like=True):
    claimed_at: Annotated[datetime, msgspec.Meta(tz=True)]
    coupon_id: str


def encode_cursor(coupon: MyCoupon) -> str:
    """An opaque position after `coupon`, where the next page of "my coupons" starts."""
    raw = msgspec.json.encode(_Cursor(coupon.claimed_at, coupon.coupon_id))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The position a cursor names, or 400 naming `cursor` if it is not one this API handed out."""
    try:
        decoded = msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        decoded = None
    if decoded is None or not is_uuid(decoded.coupon_id):
        raise InvalidCursor()
    return decoded.claimed_at, decoded.coupon_id
