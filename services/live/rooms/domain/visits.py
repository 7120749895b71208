"""Pure rules of visits as the funnel sees them: which join is a counted view, how long a visit watched, and when
its watch time is final (docs/ARCHITECTURE.md, "Traffic that is not people")."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from libs.contracts import RoomViewed, VisitEnded
from services.live.rooms.views import Room, Visit

# Due job reporting a closed visit's watch time once no re-join can continue it (see use_cases/visits.py).
VISIT_ENDED = "visit_ended"


class ClosedVisit(msgspec.Struct, frozen=True, kw_only=True):
    """A visit just written down as left, with its room's host and merchant: what its VisitEnded says."""

    visit_id: str
    room_id: str
    session_id: str
    host_id: str
    merchant_id: str
    viewer_id: str
    joined_at: datetime
    last_seen_at: datetime
    left_at: datetime


def rejoin_after(now: datetime, grace_s: float) -> datetime:
    """A visit left after this instant is continued by a join now (the same view), not followed by a new one."""
    return now - timedelta(seconds=grace_s)


def final_at(visit: ClosedVisit, grace_s: float) -> datetime:
    """When the visit's watch time is final: the re-join grace after it left."""
    return visit.left_at + timedelta(seconds=grace_s)


def watch_s(visit: ClosedVisit) -> float:
    """Join to leave, if the visit showed a sign of life after joining (a heartbeat, a join again); else 0.

    A visit left by silence ends at its last heartbeat (`left_at` is that), so a viewer that only joined watched 0 s:
    views without heartbeats are not watch time.
    """
    if visit.last_seen_at <= visit.joined_at:
        return 0.0
    return max((visit.left_at - visit.joined_at).total_seconds(), 0.0)


def room_viewed(room: Room, visit: Visit, visit_id: str, now: datetime) -> RoomViewed:
    """The counted view a newly opened visit is."""
    return RoomViewed(
        visit_id=visit_id,
        room_id=room.room_id,
        session_id=visit.session_id,
        host_id=room.host_id,
        merchant_id=room.merchant_id,
        viewer_id=visit.viewer_id,
        joined_at=visit.joined_at,
        occurred_at=now,
    )


def visit_ended(visit: ClosedVisit, now: datetime) -> VisitEnded:
    """The final word on a visit: the watch time it earned."""
    return VisitEnded(
        visit_id=visit.visit_id,
        room_id=visit.room_id,
        session_id=visit.session_id,
        host_id=visit.host_id,
        merchant_id=visit.merchant_id,
        viewer_id=visit.viewer_id,
        watch_s=round(watch_s(visit), 3),
        ended_at=visit.left_at,
        occurred_at=now,
    )
