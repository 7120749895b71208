"""Writing the room feed: what a room's viewers see change, in order, on every live instance (kinds: domain.py)."""

from __future__ import annotations

from typing import Any

import asyncpg

from libs.bus import add_events
from libs.contracts import RoomFeed


async def emit(conn: asyncpg.Connection, room_id: str, kind: str, data: dict[str, Any]) -> int:
    """Tell the room's viewers `kind` happened, in the caller's transaction; returns the event's `seq`.

    Bumping `rooms.feed_seq` row-locks the room until commit, so a room's feed events commit in `seq`
    order; the relay may still publish them out of order, and the hub puts them back in order.
    """
    seq = await conn.fetchval("UPDATE rooms SET feed_seq = feed_seq + 1 WHERE room_id = $1 RETURNING feed_seq", room_id)
    if seq is None:
        raise LookupError(f"no room {room_id}")
    await add_events(conn, RoomFeed(room_id=str(room_id), seq=seq, kind=kind, data=data))
    return seq
