"""Pure rules of short videos: who publishes and deletes, what an anchor may be, the listing's cursor, and whether a
video is a true source of a cart line or checkout item."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated

import msgspec

from libs.auth import Principal
from libs.contracts import SOURCE_NOT_ANCHORED, SOURCE_OK, SOURCE_UNKNOWN_VIDEO
from libs.errors import BadRequest, Forbidden, Invalid, NotFound
from libs.ids import canonical_uuid, is_uuid
from services.live.videos.views import VideoRef

# Anchors a video carries, at least one.
MAX_ANCHORS = 20
# Newest videos a host's page lists (the rest: GET /videos?host_id=).
HOST_PAGE_VIDEOS = 20
PRODUCT = "product"
DEAL = "deal"


class VideoNotFound(NotFound):
    """An unknown video, a deleted one, or a malformed id: all answer the same."""

    code = "not-found"

    def __init__(self) -> None:
        super().__init__("no such video")


class NotYourVideo(Forbidden):
    code = "not-your-video"

    def __init__(self) -> None:
        super().__init__("only the video's host, its merchant or an operator may delete it")


class PublisherNotLinked(Forbidden):
    """A host token without a merchant, or a role that publishes nothing."""

    code = "publisher-not-linked-to-merchant"

    def __init__(self) -> None:
        super().__init__("a video is published by a host linked to a merchant, or by the merchant")


class NotYourMerchant(Forbidden):
    code = "not-your-merchant"

    def __init__(self) -> None:
        super().__init__("a video is published only for the merchant the token names", field="merchant_id")


class UnknownAnchor(Invalid):
    """An anchor naming neither or both of product and deal, an item live does not know, another merchant's, an
    ended deal, or one anchored twice."""

    code = "unknown-anchor"


class UnknownHost(Invalid):
    code = "unknown-host"

    def __init__(self) -> None:
        super().__init__("the merchant has no room hosted by this host", field="host_id")


class ReplayOfOtherRoom(Invalid):
    code = "unknown-room"

    def __init__(self) -> None:
        super().__init__("a video replays a room of its own merchant", field="room_id")


class InvalidCursor(BadRequest):
    code = "invalid-cursor"

    def __init__(self) -> None:
        super().__init__("cursor is not one this API handed out", field="cursor")


def publisher(caller: Principal, asked_merchant: str | None, asked_host: str | None) -> tuple[str, str]:
    """(merchant, host) of a new video: a host publishes for the merchant its token names, as itself; a merchant for
    itself, naming the host (itself when none)."""
    own = canonical_uuid(caller.merchant_id) if caller.merchant_id else None
    if caller.role not in ("host", "merchant") or own is None:
        raise PublisherNotLinked()
    if asked_merchant is not None and canonical_uuid(asked_merchant) != own:
        raise NotYourMerchant()
    if caller.role == "host":
        if asked_host is not None and asked_host != caller.sub:
            raise Invalid("a host publishes their own videos", field="host_id", code="not-your-host-id")
        return own, caller.sub
    return own, asked_host or caller.sub


def ensure_may_delete(video: VideoRef, caller: Principal) -> None:
    """The video's host, the merchant it sells for, or an operator."""
    if caller.role == "operator":
        return
    if caller.role == "host" and caller.sub == video.host_id:
        return
    if caller.role == "merchant" and canonical_uuid(caller.merchant_id) == video.merchant_id:
        return
    raise NotYourVideo()


class AnchorAsked(msgspec.Struct, frozen=True):
    """An anchor as the publisher sent it: (kind, id) with the id in canonical spelling."""

    kind: str
    item_id: str


def anchors_asked(anchors: Sequence[tuple[str | None, str | None]]) -> list[AnchorAsked]:
    """Each (product_id, deal_id) pair as one anchor; 422 naming `anchors[i]` for neither, both, or a repeat."""
    seen: set[tuple[str, str]] = set()
    asked = []
    for index, (product_id, deal_id) in enumerate(anchors):
        if (product_id is None) == (deal_id is None):
            raise UnknownAnchor("an anchor names exactly one of product_id and deal_id", field=f"anchors[{index}]")
        kind, item = (PRODUCT, product_id) if product_id is not None else (DEAL, deal_id)
        assert item is not None
        item = canonical_uuid(item) or item
        if (kind, item) in seen:
            raise UnknownAnchor(f"{kind} {item} is anchored twice", field=f"anchors[{index}]")
        seen.add((kind, item))
        asked.append(AnchorAsked(kind, item))
    return asked


def ensure_anchors_sellable(
    asked: Sequence[AnchorAsked], merchant_id: str, product_merchants: dict[str, str], deal_states: dict[str, tuple]
) -> None:
    """Every anchor is an item of `merchant_id` live knows (a deal still on sale); else 422 naming `anchors[i]`.

    `product_merchants`: product -> merchant; `deal_states`: deal -> (merchant, status), from live's replicas."""
    for index, anchor in enumerate(asked):
        if anchor.kind == PRODUCT:
            owner, on_sale = product_merchants.get(anchor.item_id), True
        else:
            owner, status = deal_states.get(anchor.item_id, (None, None))
            on_sale = status == "published"
        if owner != merchant_id:
            raise UnknownAnchor(f"the merchant sells no {anchor.kind} {anchor.item_id}", field=f"anchors[{index}]")
        if not on_sale:
            raise UnknownAnchor(f"deal {anchor.item_id} has ended", field=f"anchors[{index}]")


def source_verdict(video: VideoRef | None, merchant_id: str, product_id: str) -> str:
    """Whether a line of `merchant_id`'s product (or deal) may name `video` as where it was bought: the video is
    there (not deleted), sells for that merchant and anchors the item."""
    if video is None or video.deleted:
        return SOURCE_UNKNOWN_VIDEO
    item = canonical_uuid(product_id)
    anchored = item in video.product_ids or item in video.deal_ids
    if canonical_uuid(merchant_id) != video.merchant_id or not anchored:
        return SOURCE_NOT_ANCHORED
    return SOURCE_OK


class _Cursor(msgspec.Struct, array_like=True):
    published_at: Annotated[datetime, msgspec.Meta(tz=True)]
    video_id: str


def encode_cursor(published_at: datetime, video_id: str) -> str:
    """Where the next page starts: after this video, newest first."""
    return base64.urlsafe_b64encode(msgspec.json.encode(_Cursor(published_at, video_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(published_at, video_id) of a cursor this API handed out; 400 naming `cursor` otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = msgspec.json.decode(raw, type=_Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise InvalidCursor() from exc
    if not is_uuid(decoded.video_id):
        raise InvalidCursor()
    return decoded.published_at, decoded.video_id
