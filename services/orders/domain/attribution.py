"""Where a line was sold: a line naming a live room is checked with live before the checkout records it.

A room is a true source of a line when it exists and sells for the line's merchant: the rule live's room sales
count by, so a verified source is one the sale is counted for. When live does not answer in time the line keeps
its room, unverified (live's counter applies the same rule again when the order is paid; nothing is counted wrongly).
"""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet

import msgspec

from libs.contracts import (
    SOURCE_NOT_ANCHORED,
    SOURCE_NOT_SELLING,
    SOURCE_UNKNOWN_ROOM,
    SOURCE_UNKNOWN_VIDEO,
    ReservedDeal,
    ReservedLine,
    ReserveItem,
    RoomSource,
    VideoSource,
)
from libs.errors import Invalid


class UnknownRoom(Invalid):
    code = "unknown-room"


class RoomNotSelling(Invalid):
    code = "room-not-selling"


class UnknownVideo(Invalid):
    code = "unknown-video"


class VideoNotAnchoring(Invalid):
    code = "video-not-anchoring"


def _bought(line: ReservedLine | ReservedDeal) -> str:
    """What the line buys: its SKU, or its deal (a deal line's product is the deal)."""
    return line.deal_id if isinstance(line, ReservedDeal) else line.sku_id


def sources_of(reserved: Sequence[ReservedLine | ReservedDeal]) -> list[RoomSource]:
    """What to ask live: each reserved line that names a room (from the checkout or from the buyer's cart)."""
    return [
        RoomSource(
            room_id=line.room_id,
            merchant_id=line.merchant_id,
            product_id=line.deal_id if isinstance(line, ReservedDeal) else line.product_id,
        )
        for line in reserved
        if line.room_id
    ]


def fill_context_room(
    reserved: Sequence[ReservedLine | ReservedDeal], room_id: str | None
) -> tuple[list[ReservedLine | ReservedDeal], set[int]]:
    """The lines with the room the request's baggage names put on every line that names no room and no video (the
    buyer came from that room but neither the item nor the cart line says so), and the positions of those lines:
    such a room is a claim of the context, not of the buyer, so live's refusal drops it rather than the checkout."""
    if not room_id:
        return list(reserved), set()
    filled: set[int] = set()
    lines: list[ReservedLine | ReservedDeal] = []
    for position, line in enumerate(reserved):
        if not line.room_id and not (isinstance(line, ReservedLine) and line.video_id):
            line = msgspec.structs.replace(line, room_id=room_id)
            filled.add(position)
        lines.append(line)
    return lines, filled


def ensure_true_sources(
    items: Sequence[ReserveItem],
    reserved: Sequence[ReservedLine | ReservedDeal],
    verdicts: Sequence[str],
    *,
    from_context: AbstractSet[int] = frozenset(),
) -> list[ReservedLine | ReservedDeal]:
    """Refuse the first line whose room does not exist or does not sell its product, naming the item at fault
    (`items`: the cart's, each keyed by the SKU or deal it buys); a room only the request's baggage gave a line
    (`from_context`: positions in `reserved`) is dropped from it instead. Answers the lines as settled."""
    first_item: dict[str, int] = {}
    for index, item in enumerate(items):
        first_item.setdefault(item.sku_id.lower(), index)
    verdict_of = iter(verdicts)
    settled: list[ReservedLine | ReservedDeal] = []
    for position, line in enumerate(reserved):
        if not line.room_id:
            settled.append(line)
            continue
        verdict = next(verdict_of)
        if position in from_context and verdict in (SOURCE_UNKNOWN_ROOM, SOURCE_NOT_SELLING):
            settled.append(msgspec.structs.replace(line, room_id=None))
            continue
        settled.append(line)
        field = f"items[{first_item.get(_bought(line).lower(), 0)}].room_id"
        if verdict == SOURCE_UNKNOWN_ROOM:
            raise UnknownRoom(f"there is no live room {line.room_id}", field=field)
        if verdict == SOURCE_NOT_SELLING:
            raise RoomNotSelling(
                f"room {line.room_id} does not sell {line.title}: it sells for another merchant", field=field
            )
    return settled


def video_sources_of(reserved: Sequence[ReservedLine | ReservedDeal]) -> list[VideoSource]:
    """What to ask live of videos: each goods line that names one (from the checkout item or the buyer's cart)."""
    return [
        VideoSource(video_id=line.video_id, merchant_id=line.merchant_id, product_id=line.product_id)
        for line in reserved
        if isinstance(line, ReservedLine) and line.video_id
    ]


def settle_video_sources(
    items: Sequence[ReserveItem], reserved: Sequence[ReservedLine | ReservedDeal], verdicts: Sequence[str]
) -> list[ReservedLine | ReservedDeal]:
    """The lines with the videos live vouched for (`verdicts`: one per `video_sources_of`, in order).

    A video the checkout item names and live refuses is refused, naming `items[i].video_id`; one that came from the
    buyer's cart line and is no longer a true source (taken down since) is dropped from its line: the buyer did
    nothing wrong, and the sale is simply not the video's.
    """
    named = {item.sku_id.lower(): index for index, item in enumerate(items) if item.video_id}
    verdict_of = iter(verdicts)
    settled: list[ReservedLine | ReservedDeal] = []
    for line in reserved:
        if isinstance(line, ReservedLine) and line.video_id:
            verdict = next(verdict_of)
            if verdict in (SOURCE_UNKNOWN_VIDEO, SOURCE_NOT_ANCHORED):
                index = named.get(line.sku_id.lower())
                if index is not None and verdict == SOURCE_UNKNOWN_VIDEO:
                    raise UnknownVideo(f"there is no video {line.video_id}", field=f"items[{index}].video_id")
                if index is not None:
                    raise VideoNotAnchoring(
                        f"video {line.video_id} does not show {line.title}", field=f"items[{index}].video_id"
                    )
                line = msgspec.structs.replace(line, video_id=None)
        settled.append(line)
    return settled
