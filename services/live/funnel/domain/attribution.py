"""Attribution (docs/ARCHITECTURE.md, "Attribution"): which room or video an order line is counted for.

The line's own room or video (checkout item, cart source, flash sale) wins; else the last room or video its buyer
touched for its product or deal within that source's window before the order; else none (the line still counts for
its merchant). Pure: the store reads the candidates, this decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

ROOM = "room"
VIDEO = "video"


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """An order line as the funnel first sees it (placed, or paid first), with the sources it names itself."""

    order_id: str
    line_no: int
    buyer_id: str
    merchant_id: str
    product_id: str | None = None
    deal_id: str | None = None
    room_id: str | None = None
    video_id: str | None = None
    sale_id: str | None = None
    at: datetime

    @property
    def item_id(self) -> str | None:
        return self.deal_id or self.product_id


class RoomAt(msgspec.Struct, frozen=True, kw_only=True):
    """A room as live knows it, and its session at some moment (the latest started by then, if any)."""

    room_id: str
    host_id: str
    merchant_id: str
    session_id: str | None = None


class VideoAt(msgspec.Struct, frozen=True, kw_only=True):
    video_id: str
    host_id: str
    merchant_id: str


class Touch(msgspec.Struct, frozen=True, kw_only=True):
    """A buyer's click on an item in a room or on a video's anchor, or a cart line put with that source."""

    source_type: str
    source_id: str
    at: datetime
    session_id: str | None = None
    host_id: str | None = None


class Attribution(msgspec.Struct, frozen=True, kw_only=True):
    """Where a line is counted: its source (or none) and the scopes that come with it."""

    source_type: str | None = None
    room_id: str | None = None
    session_id: str | None = None
    video_id: str | None = None
    sale_id: str | None = None
    host_id: str | None = None


class Windows(msgspec.Struct, frozen=True, kw_only=True):
    room_s: int
    video_s: int

    def of(self, source_type: str) -> timedelta:
        return timedelta(seconds=self.room_s if source_type == ROOM else self.video_s)


def from_room(room: RoomAt, sale_id: str | None = None) -> Attribution:
    return Attribution(
        source_type=ROOM, room_id=room.room_id, session_id=room.session_id, host_id=room.host_id, sale_id=sale_id
    )


def from_video(video: VideoAt, sale_id: str | None = None) -> Attribution:
    return Attribution(source_type=VIDEO, video_id=video.video_id, host_id=video.host_id, sale_id=sale_id)


def in_window(touch: Touch, at: datetime, windows: Windows) -> bool:
    """The touch came at or before `at`, and no longer before it than its source's window."""
    return touch.at <= at and at - touch.at <= windows.of(touch.source_type)


def own_source(line: Line, room: RoomAt | None, video: VideoAt | None) -> Attribution | None:
    """The source the line names itself, if live knows it as the line's merchant's (else the line names none)."""
    if room is not None and room.merchant_id == line.merchant_id:
        return from_room(room, line.sale_id)
    if video is not None and video.merchant_id == line.merchant_id:
        return from_video(video, line.sale_id)
    return None


def choose(
    line: Line,
    room: RoomAt | None,
    video: VideoAt | None,
    touches: list[Touch],
    windows: Windows,
) -> Attribution:
    """The line's own source; else the last touch within its window; else none."""
    own = own_source(line, room, video)
    if own is not None:
        return own
    candidates = [t for t in touches if in_window(t, line.at, windows)]
    if not candidates:
        return Attribution(sale_id=line.sale_id)
    last = max(candidates, key=lambda t: t.at)
    if last.source_type == ROOM:
        return Attribution(
            source_type=ROOM,
            room_id=last.source_id,
            session_id=last.session_id,
            host_id=last.host_id,
            sale_id=line.sale_id,
        )
    return Attribution(source_type=VIDEO, video_id=last.source_id, host_id=last.host_id, sale_id=line.sale_id)
