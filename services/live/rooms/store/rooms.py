"""SQL for rooms, their sessions and their pinned product or deal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.live.rooms.domain import DEAL, PRODUCT, BagRef
from services.live.rooms.views import Room

_SELECT_ROOM = """SELECT room_id, host_id, merchant_id, title, cover_url, status, scheduled_start_at, created_at
                  FROM rooms WHERE room_id = $1"""
_RETURNING_ROOM = "RETURNING room_id, host_id, merchant_id, title, cover_url, status, scheduled_start_at, created_at"


def _room(row: asyncpg.Record) -> Room:
    return Room(
        room_id=str(row["room_id"]),
        host_id=row["host_id"],
        merchant_id=str(row["merchant_id"]),
        title=row["title"],
        cover_url=row["cover_url"],
        status=row["status"],
        scheduled_start_at=row["scheduled_start_at"],
        created_at=row["created_at"],
    )


async def insert_room(conn: asyncpg.Connection, room: Room) -> None:
    """A new room and its zeroed sales counters."""
    await conn.execute(
        """INSERT INTO rooms (room_id, host_id, merchant_id, title, cover_url, status, scheduled_start_at, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        room.room_id,
        room.host_id,
        room.merchant_id,
        room.title,
        room.cover_url,
        room.status,
        room.scheduled_start_at,
        room.created_at,
    )
    await conn.execute("INSERT INTO room_stats (room_id, updated_at) VALUES ($1, $2)", room.room_id, room.created_at)


async def hosted_for(conn: asyncpg.Connection, host_id: str, merchant_id: str) -> bool:
    """Whether `host_id` has hosted a room for the merchant (live knows hosts by their rooms)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM rooms WHERE host_id = $1 AND merchant_id = $2)", host_id, merchant_id
        )
    )


async def fetch_room(conn: asyncpg.Connection, room_id: str, *, lock: bool = False) -> Room | None:
    """The room, optionally row-locked so changes of one room happen one at a time."""
    # NO KEY UPDATE, not UPDATE: rows that reference the room (visits, sessions, sales) check their
    # foreign key with a KEY SHARE lock, which UPDATE would block. A join holding its session share-locked
    # and waiting on that check, while the room's end waits on the session, was a deadlock.
    row = await conn.fetchrow(_SELECT_ROOM + " FOR NO KEY UPDATE" if lock else _SELECT_ROOM, room_id)
    return _room(row) if row else None


async def merchants_of_rooms(conn: asyncpg.Connection, room_ids: list[str]) -> dict[str, str]:
    """room_id -> the merchant it sells for, for those of `room_ids` that exist."""
    rows = await conn.fetch("SELECT room_id, merchant_id FROM rooms WHERE room_id = ANY($1::uuid[])", room_ids)
    return {str(r["room_id"]): str(r["merchant_id"]) for r in rows}


async def start_session(conn: asyncpg.Connection, room_id: str, session_id: str, now: datetime) -> Room | None:
    """Open the room's next session and make it live, unless it is live already (then None)."""
    started = await conn.fetchval(
        """INSERT INTO room_sessions (session_id, room_id, number, started_at)
           SELECT $2, $1, COALESCE(MAX(number), 0) + 1, $3 FROM room_sessions WHERE room_id = $1
           ON CONFLICT DO NOTHING RETURNING true""",
        room_id,
        session_id,
        now,
    )
    if not started:
        return None
    row = await conn.fetchrow(
        f"""UPDATE rooms SET status = 'live', current_session_id = $2
            WHERE room_id = $1 AND status IN ('scheduled', 'ended') {_RETURNING_ROOM}""",  # noqa: S608 - fixed columns
        room_id,
        session_id,
    )
    return _room(row) if row else None


async def end_session(conn: asyncpg.Connection, room_id: str, now: datetime) -> tuple[Room, str] | None:
    """End the live room and its session; (room, session id), or None if it was not live."""
    session_id = await conn.fetchval(
        "UPDATE room_sessions SET ended_at = $2 WHERE room_id = $1 AND ended_at IS NULL RETURNING session_id",
        room_id,
        now,
    )
    if session_id is None:
        return None
    row = await conn.fetchrow(
        f"""UPDATE rooms SET status = 'ended', current_session_id = NULL
            WHERE room_id = $1 AND status = 'live' {_RETURNING_ROOM}""",  # noqa: S608 - fixed columns
        room_id,
    )
    return (_room(row), str(session_id)) if row else None


async def current_session(conn: asyncpg.Connection, room_id: str) -> str | None:
    """The open session of the room, share-locked: ending it waits for this transaction (a join's visit)."""
    session_id = await conn.fetchval(
        "SELECT session_id FROM room_sessions WHERE room_id = $1 AND ended_at IS NULL FOR SHARE", room_id
    )
    return str(session_id) if session_id else None


async def session_is_open(conn: asyncpg.Connection, session_id: str) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM room_sessions WHERE session_id = $1 AND ended_at IS NULL", session_id)
    )


async def update_room(conn: asyncpg.Connection, room_id: str, changes: dict[str, Any]) -> Room:
    """Change some of title, cover_url, scheduled_start_at (call with the room row locked)."""
    allowed = ("title", "cover_url", "scheduled_start_at")
    columns = [name for name in allowed if name in changes]
    if not columns:
        row = await conn.fetchrow(_SELECT_ROOM, room_id)
        return _room(row)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    row = await conn.fetchrow(
        # Column names come from `allowed` above, never from the caller.
        f"UPDATE rooms SET {assignments} WHERE room_id = $1 {_RETURNING_ROOM}",  # noqa: S608
        room_id,
        *(changes[name] for name in columns),
    )
    return _room(row)


async def pinned(conn: asyncpg.Connection, room_id: str) -> BagRef | None:
    """The room's pinned product or deal, if any."""
    row = await conn.fetchrow("SELECT pinned_product_id, pinned_deal_id FROM rooms WHERE room_id = $1", room_id)
    if row is None:
        return None
    if row["pinned_product_id"]:
        return BagRef(PRODUCT, str(row["pinned_product_id"]))
    if row["pinned_deal_id"]:
        return BagRef(DEAL, str(row["pinned_deal_id"]))
    return None


async def set_pin(conn: asyncpg.Connection, room_id: str, ref: BagRef | None) -> bool:
    """Pin a product or a deal of the bag (or nothing); True if the pin changed."""
    product_id = ref.id if ref and ref.kind == PRODUCT else None
    deal_id = ref.id if ref and ref.kind == DEAL else None
    status = await conn.execute(
        """UPDATE rooms SET pinned_product_id = $2, pinned_deal_id = $3
           WHERE room_id = $1
             AND (pinned_product_id IS DISTINCT FROM $2::uuid OR pinned_deal_id IS DISTINCT FROM $3::uuid)""",
        room_id,
        product_id,
        deal_id,
    )
    return status != "UPDATE 0"


async def feed_seq(conn: asyncpg.Connection, room_id: str) -> int:
    """The seq of the room's newest feed event this transaction can see."""
    return await conn.fetchval("SELECT feed_seq FROM rooms WHERE room_id = $1", room_id)
