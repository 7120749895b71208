"""Client taps, pure: what a reported event must name for its kind, when it may have happened, what it must point at
(a live room selling the item, a video anchoring it), and the fact it becomes (docs/ARCHITECTURE.md, "Facts")."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

import msgspec

from libs.contracts import FunnelTap
from libs.errors import Invalid, Unavailable
from libs.ids import canonical_uuid, derived_id

IMPRESSION, CLICK, VIDEO_PLAY, ANCHOR_CLICK = "impression", "click", "video_play", "anchor_click"
ROOM_KINDS = (IMPRESSION, CLICK)
# At most this many events in one request.
MAX_EVENTS = 100
# A client's clock may run ahead by this much (its `at` is then taken as now); events older than MAX_AGE are refused:
# a tap is reported within seconds, a batch a client kept while offline within the hour.
MAX_AHEAD = timedelta(minutes=5)
MAX_AGE = timedelta(hours=1)
# A play reports at most this much watching (a day; a clip is minutes long).
MAX_WATCH_S = 86_400.0

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class TapAsked(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One event as a client reports it.

    `impression` | `click`: `room_id`, `product_id` or `deal_id`, `surface` (`bag` | `pinned`). `video_play`:
    `video_id`, `play_id` (the client's id of this play: a play is counted once), `watch_s`, `completed`.
    `anchor_click`: `video_id`, `product_id` or `deal_id`. `at`: when it happened, by the client's clock.
    """

    kind: Literal["impression", "click", "video_play", "anchor_click"]
    at: Annotated[datetime, msgspec.Meta(tz=True)]
    room_id: Id | None = None
    video_id: Id | None = None
    product_id: Id | None = None
    deal_id: Id | None = None
    surface: Literal["bag", "pinned"] | None = None
    play_id: Id | None = None
    watch_s: Annotated[float, msgspec.Meta(ge=0, le=MAX_WATCH_S)] | None = None
    completed: bool | None = None


class RoomNow(msgspec.Struct, frozen=True, kw_only=True):
    """A room as a tap is checked against it: whose it is, its live session (None unless live), what its bag sells."""

    room_id: str
    host_id: str
    merchant_id: str
    session_id: str | None
    product_ids: frozenset[str]
    deal_ids: frozenset[str]


class VideoNow(msgspec.Struct, frozen=True, kw_only=True):
    """A video as a tap is checked against it (deleted ones are unknown)."""

    video_id: str
    host_id: str
    merchant_id: str
    product_ids: frozenset[str]
    deal_ids: frozenset[str]


# --- refusals ---------------------------------------------------------------------------------


class TapRefused(Invalid):
    """One event of the batch is refused (and so is the batch: nothing is published); `field` is `events[i]`."""

    code = "tap-refused"

    def __init__(self, index: int, detail: str, *, code: str) -> None:
        super().__init__(detail, field=f"events[{index}]", code=code, index=index)


# --- rules --------------------------------------------------------------------------------------


def _item(index: int, tap: TapAsked) -> tuple[str, str]:
    """("product" | "deal", its canonical id): exactly one of the two."""
    if (tap.product_id is None) == (tap.deal_id is None):
        raise TapRefused(index, f"a {tap.kind} names a product_id or a deal_id, exactly one", code="tap-incomplete")
    if tap.product_id is not None:
        return "product", canonical_uuid(tap.product_id) or tap.product_id
    return "deal", canonical_uuid(tap.deal_id) or str(tap.deal_id)


def _only(index: int, tap: TapAsked, allowed: set[str]) -> None:
    named = {
        name
        for name in ("room_id", "video_id", "product_id", "deal_id", "surface", "play_id", "watch_s", "completed")
        if getattr(tap, name) is not None
    }
    if named - allowed:
        extra = ", ".join(sorted(named - allowed))
        raise TapRefused(index, f"a {tap.kind} does not name {extra}", code="tap-incomplete")


def when(index: int, at: datetime, now: datetime) -> datetime:
    """The event's time: the client's, if not older than an hour; a little ahead of us is taken as now."""
    if at > now + MAX_AHEAD:
        raise TapRefused(index, "at is in the future", code="tap-at-out-of-range")
    if at < now - MAX_AGE:
        raise TapRefused(index, "at is more than an hour ago: report taps as they happen", code="tap-at-out-of-range")
    return min(at, now).astimezone(UTC)


def _minute(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%MZ")


def room_ids(asked: Sequence[TapAsked]) -> list[str]:
    """The rooms the taps name (canonical ids, each once); ids that are no UUID name no room."""
    return sorted({rid for t in asked if t.room_id and (rid := canonical_uuid(t.room_id))})


def video_ids(asked: Sequence[TapAsked]) -> list[str]:
    """The videos the taps name (canonical ids, each once)."""
    return sorted({vid for t in asked if t.video_id and (vid := canonical_uuid(t.video_id))})


def room_tap(index: int, viewer_id: str, tap: TapAsked, at: datetime, rooms: Mapping[str, RoomNow]) -> FunnelTap:
    """An impression or click in a live room, on an item of its bag (the pinned one is in the bag too)."""
    _only(index, tap, {"room_id", "product_id", "deal_id", "surface"})
    if tap.room_id is None or tap.surface is None:
        raise TapRefused(index, f"a {tap.kind} names room_id and surface (bag | pinned)", code="tap-incomplete")
    kind, item = _item(index, tap)
    room = rooms.get(canonical_uuid(tap.room_id) or "")
    if room is None:
        raise TapRefused(index, "no such room", code="tap-unknown-room")
    if room.session_id is None:
        raise TapRefused(index, "the room is not live", code="tap-room-not-live")
    if item not in (room.product_ids if kind == "product" else room.deal_ids):
        raise TapRefused(index, f"the room does not sell this {kind}", code="tap-not-in-room")
    return FunnelTap(
        fact_key=f"{tap.kind}:{viewer_id}:{item}:{_minute(at)}",
        kind=tap.kind,
        at=at,
        viewer_id=viewer_id,
        host_id=room.host_id,
        merchant_id=room.merchant_id,
        room_id=room.room_id,
        session_id=room.session_id,
        product_id=item if kind == "product" else None,
        deal_id=item if kind == "deal" else None,
        surface=tap.surface,
    )


def _video(index: int, tap: TapAsked, videos: Mapping[str, VideoNow]) -> VideoNow:
    if tap.video_id is None:
        raise TapRefused(index, f"a {tap.kind} names video_id", code="tap-incomplete")
    video = videos.get(canonical_uuid(tap.video_id) or "")
    if video is None:
        raise TapRefused(index, "no such video", code="tap-unknown-video")
    return video


def play_tap(index: int, viewer_id: str, tap: TapAsked, at: datetime, videos: Mapping[str, VideoNow]) -> FunnelTap:
    """A play of a video, counted once per `play_id`."""
    _only(index, tap, {"video_id", "play_id", "watch_s", "completed"})
    if tap.play_id is None or tap.watch_s is None:
        raise TapRefused(index, "a video_play names video_id, play_id and watch_s", code="tap-incomplete")
    video = _video(index, tap, videos)
    return FunnelTap(
        fact_key=f"{VIDEO_PLAY}:{viewer_id}:{tap.play_id}",
        kind=VIDEO_PLAY,
        at=at,
        viewer_id=viewer_id,
        host_id=video.host_id,
        merchant_id=video.merchant_id,
        video_id=video.video_id,
        watch_s=tap.watch_s,
        completed=bool(tap.completed),
    )


def anchor_tap(index: int, viewer_id: str, tap: TapAsked, at: datetime, videos: Mapping[str, VideoNow]) -> FunnelTap:
    """A click on a video's product or deal anchor."""
    _only(index, tap, {"video_id", "product_id", "deal_id"})
    video = _video(index, tap, videos)
    kind, item = _item(index, tap)
    if item not in (video.product_ids if kind == "product" else video.deal_ids):
        raise TapRefused(index, f"the video does not anchor this {kind}", code="tap-not-anchored")
    return FunnelTap(
        fact_key=f"{ANCHOR_CLICK}:{viewer_id}:{item}:{_minute(at)}",
        kind=ANCHOR_CLICK,
        at=at,
        viewer_id=viewer_id,
        host_id=video.host_id,
        merchant_id=video.merchant_id,
        video_id=video.video_id,
        product_id=item if kind == "product" else None,
        deal_id=item if kind == "deal" else None,
    )


def taps(
    viewer_id: str,
    asked: Sequence[TapAsked],
    now: datetime,
    rooms: Mapping[str, RoomNow],
    videos: Mapping[str, VideoNow],
) -> list[FunnelTap]:
    """The facts a batch reports, checked and filled in; one per fact key (a repeat inside the batch collapses).

    The first event at fault refuses the whole batch (`TapRefused` naming `events[i]`).
    """
    out: dict[str, FunnelTap] = {}
    for index, tap in enumerate(asked):
        at = when(index, tap.at, now)
        if tap.kind in ROOM_KINDS:
            fact = room_tap(index, viewer_id, tap, at, rooms)
        elif tap.kind == VIDEO_PLAY:
            fact = play_tap(index, viewer_id, tap, at, videos)
        else:
            fact = anchor_tap(index, viewer_id, tap, at, videos)
        out.setdefault(fact.fact_key, fact)
    return list(out.values())


def batch_id(facts: Sequence[FunnelTap]) -> str:
    """The batch's identity, a hash of its sorted fact keys: a client re-sending it names the same batch (the event's
    id, so JetStream's Nats-Msg-Id)."""
    digest = hashlib.sha256("\n".join(sorted(f.fact_key for f in facts)).encode()).hexdigest()
    return derived_id("live.funnel.taps", digest)


class TapsNotAccepted(Unavailable):
    code = "taps-not-accepted"

    def __init__(self) -> None:
        super().__init__("the events could not be recorded now; send the same batch again")
