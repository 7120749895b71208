"""What rooms know of the activities a host runs in a room (flash sales, coupon drops): only `RoomActivity`.

Rooms never import those areas; the live app registers each one's `RoomActivity` on the runtime at start-up, and
rooms' use cases ask every registered activity, in registration order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import asyncpg

from libs.runtime import Runtime

# Where the registered activities live on the runtime.
ACTIVITIES = "room_activities"


class RoomActivity(Protocol):
    """Something a host runs in a room, as the room sees it: listed in its state, ended with it."""

    # The member of the room's state (`GET /rooms/{id}/state`, the feed's `state`) that lists this activity.
    state_key: str

    async def state_in_room(
        self, runtime: Runtime, conn: asyncpg.Connection, room_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        """What a viewer's screen shows of it now, read in the caller's snapshot (JSON-shaped)."""
        ...

    async def end_in_room(self, runtime: Runtime, conn: asyncpg.Connection, room_id: str, now: datetime) -> None:
        """The room ended, in the caller's transaction, which holds the room row: end what must end with it."""
        ...


def register_activity(runtime: Runtime, activity: RoomActivity) -> None:
    """Let the rooms of this process list and end `activity` (the live app does this at start-up)."""
    runtime.extras.setdefault(ACTIVITIES, []).append(activity)


def activities_of(runtime: Runtime) -> list[RoomActivity]:
    """The activities registered on this process, in registration order."""
    return runtime.extras.get(ACTIVITIES, [])
