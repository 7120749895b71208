"""Pure rules of discovery: the listings' cursors, who may follow whom, and who may list a merchant's rooms."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec

from libs.auth import Principal
from libs.errors import BadRequest, Forbidden, Invalid, NotFound
from libs.ids import canonical_uuid, is_uuid

LIVE = "live"
SCHEDULED = "scheduled"
ENDED = "ended"
# Ended rooms a host's page shows, most recently ended first.
HOST_PAGE_ENDED = 20

_T = TypeVar("_T")


class HostNotFound(NotFound):
    """A host live has never seen: live knows hosts by the rooms they open."""

    code = "not-found"

    def __init__(self) -> None:
        super().__init__("no such host")


class CannotFollowSelf(Invalid):
    code = "cannot-follow-self"

    def __init__(self) -> None:
        super().__init__("a host cannot follow themselves", field="host_id")


class FollowingNeedsBuyer(BadRequest):
    """`following=true` on the public listing without a buyer token.

    A public route answers no 401/403 (its OpenAPI document promises anyone may call it), so the one filter that
    needs a buyer is refused as a parameter that cannot be read without one, naming it."""

    code = "following-needs-buyer"

    def __init__(self) -> None:
        super().__init__("following=true lists rooms of hosts a buyer follows: send a buyer token", field="following")


class MerchantNotFound(NotFound):
    """A merchant id that is no UUID: no merchant has it."""

    code = "not-found"

    def __init__(self) -> None:
        super().__init__("no such merchant")


class NotYourMerchantsRooms(Forbidden):
    """A merchant's rooms, all of them (unannounced and ended too), are listed to it and to its hosts only."""

    code = "not-your-merchant"

    def __init__(self) -> None:
        super().__init__("only the merchant and the hosts linked to it list its rooms")


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API handed out", field="cursor")


def follower(caller: Principal | None, following: bool) -> str | None:
    """Whose follows filter a listing: nobody's, or the calling buyer's when `following` is asked."""
    if not following:
        return None
    if caller is None or caller.role != "buyer":
        raise FollowingNeedsBuyer()
    return caller.sub


def merchant_of_listing(caller: Principal, merchant_id: str) -> str:
    """The merchant whose rooms `caller` lists: the one its token names (a merchant, or a host linked to it)."""
    merchant = canonical_uuid(merchant_id)
    if merchant is None:
        raise MerchantNotFound()
    own = canonical_uuid(caller.merchant_id) if caller.merchant_id else None
    if caller.role not in ("merchant", "host") or own != merchant:
        raise NotYourMerchantsRooms()
    return merchant


def ensure_not_self(buyer_id: str, host_id: str) -> None:
    """A buyer token with the host's own `sub` is the host: following oneself would count a fan who is not one."""
    if buyer_id == host_id:
        raise CannotFollowSelf()


class _RoomCursor(msgspec.Struct, array_like=True):
    status: str
    # Live rooms page by (concurrent viewers desc, room id); scheduled ones by (scheduled start, room id).
    viewers: int | None
    at: Annotated[datetime, msgspec.Meta(tz=True)] | None
    room_id: str


class _MerchantRoomCursor(msgspec.Struct, array_like=True):
    status: str
    # Live rooms page by their session's start, ended ones by their last session's end (newest first), scheduled ones
    # by their scheduled start (soonest first; null: unannounced, after every announced one); then by room id.
    at: Annotated[datetime, msgspec.Meta(tz=True)] | None
    room_id: str


class _FollowCursor(msgspec.Struct, array_like=True):
    followed_at: Annotated[datetime, msgspec.Meta(tz=True)]
    host_id: str


def _encode(value: msgspec.Struct) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).decode().rstrip("=")


def _decode(cursor: str, kind: type[_T]) -> _T:
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)), type=kind)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor() from exc


def encode_room_cursor(status: str, viewers: int, at: datetime | None, room_id: str) -> str:
    """Where the next page of a listing starts: after this room, in the listing's order."""
    live = status == LIVE
    return _encode(_RoomCursor(status, viewers if live else None, None if live else at, room_id))


def decode_room_cursor(cursor: str, status: str) -> tuple[int | None, datetime | None, str]:
    """(viewers, scheduled start, room id) of the cursor; 400 for one not handed out for this listing."""
    decoded = _decode(cursor, _RoomCursor)
    key_missing = decoded.viewers is None if status == LIVE else decoded.at is None
    if decoded.status != status or key_missing or not is_uuid(decoded.room_id):
        raise InvalidCursor()
    return decoded.viewers, decoded.at, decoded.room_id


def encode_merchant_room_cursor(status: str, at: datetime | None, room_id: str) -> str:
    """Where the next page of a merchant's rooms of `status` starts: after this room."""
    return _encode(_MerchantRoomCursor(status, at, room_id))


def decode_merchant_room_cursor(cursor: str, status: str) -> tuple[datetime | None, str]:
    """(sort time, room id) of the cursor; 400 for one not handed out for this status."""
    decoded = _decode(cursor, _MerchantRoomCursor)
    if decoded.status != status or (decoded.at is None and status != SCHEDULED) or not is_uuid(decoded.room_id):
        raise InvalidCursor()
    return decoded.at, decoded.room_id


def encode_follow_cursor(followed_at: datetime, host_id: str) -> str:
    return _encode(_FollowCursor(followed_at, host_id))


def decode_follow_cursor(cursor: str) -> tuple[datetime, str]:
    decoded = _decode(cursor, _FollowCursor)
    return decoded.followed_at, decoded.host_id
