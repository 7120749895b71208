"""SQL for visits: one row of `room_views` per join, with heartbeats; presence, and the counters read from them."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from libs.bus import add_events
from services.live.rooms.domain import expires_at
from services.live.rooms.domain.visits import VISIT_ENDED, ClosedVisit, visit_ended
from services.live.rooms.views import SessionStats, Visit

_VISIT = "room_id, session_id, viewer_id, joined_at, last_seen_at"
# What a closing UPDATE ... FROM rooms r returns (`v` is the visit).
_CLOSED = """v.view_id, v.room_id, v.session_id, v.viewer_id, v.joined_at, v.last_seen_at, v.left_at,
             r.host_id, r.merchant_id"""
# A visit's end as the stats see it: when it left, else now while present, else its last heartbeat.
_ENDED = "COALESCE(left_at, CASE WHEN last_seen_at >= $3 THEN $2 ELSE last_seen_at END)"


def _closed(rows: list[asyncpg.Record]) -> list[ClosedVisit]:
    return [
        ClosedVisit(
            visit_id=str(r["view_id"]),
            room_id=str(r["room_id"]),
            session_id=str(r["session_id"]),
            host_id=r["host_id"],
            merchant_id=str(r["merchant_id"]),
            viewer_id=r["viewer_id"],
            joined_at=r["joined_at"],
            last_seen_at=r["last_seen_at"],
            left_at=r["left_at"],
        )
        for r in rows
    ]


def _visit(row: asyncpg.Record) -> Visit:
    return Visit(
        room_id=str(row["room_id"]),
        session_id=str(row["session_id"]),
        viewer_id=row["viewer_id"],
        joined_at=row["joined_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=expires_at(row["last_seen_at"]),
    )


async def _touch(
    conn: asyncpg.Connection, session_id: str, viewer_id: str, now: datetime, stale_before: datetime
) -> Visit | None:
    row = await conn.fetchrow(
        f"""UPDATE room_views SET last_seen_at = GREATEST(last_seen_at, $3)
            WHERE session_id = $1 AND viewer_id = $2 AND left_at IS NULL AND last_seen_at >= $4
            RETURNING {_VISIT}""",  # noqa: S608 - fixed columns
        session_id,
        viewer_id,
        now,
        stale_before,
    )
    return _visit(row) if row else None


async def close_stale_visit_of(
    conn: asyncpg.Connection, session_id: str, viewer_id: str, stale_before: datetime
) -> list[ClosedVisit]:
    """Write down as left, at its last heartbeat, the viewer's visit of the session that stopped beating."""
    rows = await conn.fetch(
        f"""UPDATE room_views v SET left_at = v.last_seen_at FROM rooms r
            WHERE r.room_id = v.room_id AND v.session_id = $1 AND v.viewer_id = $2
              AND v.left_at IS NULL AND v.last_seen_at < $3
            RETURNING {_CLOSED}""",  # noqa: S608 - fixed columns
        session_id,
        viewer_id,
        stale_before,
    )
    return _closed(rows)


async def _continue(
    conn: asyncpg.Connection, session_id: str, viewer_id: str, now: datetime, left_after: datetime
) -> Visit | None:
    """Reopen the viewer's visit of the session it left after `left_after`, if its watch time is not reported yet."""
    # Its pending VisitEnded job is the mark of "not reported yet": deleting it first (it locks the job's row, as the
    # job does before it reads the visit) means the visit is either continued here or reported there, never both.
    try:
        async with conn.transaction():  # a savepoint: a racing join's new visit may hold the one open slot
            row = await conn.fetchrow(
                f"""WITH left_last AS (
                        SELECT view_id FROM room_views
                        WHERE session_id = $1 AND viewer_id = $2 AND left_at > $4
                        ORDER BY left_at DESC LIMIT 1
                    ), pending AS (
                        DELETE FROM due_jobs WHERE kind = $5 AND key = (SELECT view_id::text FROM left_last)
                        RETURNING key
                    )
                    UPDATE room_views SET left_at = NULL, last_seen_at = GREATEST(last_seen_at, $3)
                    WHERE view_id = (SELECT key::bigint FROM pending) AND left_at IS NOT NULL
                    RETURNING {_VISIT}""",  # noqa: S608 - fixed columns
                session_id,
                viewer_id,
                now,
                left_after,
                VISIT_ENDED,
            )
    except asyncpg.UniqueViolationError:
        return None
    return _visit(row) if row else None


async def open_visit(
    conn: asyncpg.Connection,
    room_id: str,
    session_id: str,
    viewer_id: str,
    now: datetime,
    stale_before: datetime,
    left_after: datetime,
) -> tuple[Visit, str | None]:
    """The viewer's present visit of the session: the open one (refreshed), the one it left after `left_after`
    (continued: the same view), or a new one; with the new one's id (a counted view), else None.

    Close the viewer's stale visit first (`close_stale_visit_of`): it ended at its last heartbeat.
    """
    for _ in range(3):
        visit = await _touch(conn, session_id, viewer_id, now, stale_before)
        if visit is not None:
            return visit, None
        visit = await _continue(conn, session_id, viewer_id, now, left_after)
        if visit is not None:
            return visit, None
        row = await conn.fetchrow(
            f"""INSERT INTO room_views (room_id, session_id, viewer_id, joined_at, last_seen_at)
                VALUES ($1, $2, $3, $4, $4)
                ON CONFLICT (session_id, viewer_id) WHERE left_at IS NULL DO NOTHING
                RETURNING view_id, {_VISIT}""",  # noqa: S608 - fixed columns
            room_id,
            session_id,
            viewer_id,
            now,
        )
        if row is not None:
            return _visit(row), str(row["view_id"])
        # A simultaneous join of the same viewer committed its visit first: the next round finds it.
    raise RuntimeError(f"could not open a visit of session {session_id} for {viewer_id}")


async def heartbeat(
    conn: asyncpg.Connection, room_id: str, viewer_id: str, now: datetime, stale_before: datetime
) -> Visit | None:
    """Keep the viewer's present visit of the room alive; None if it has none (left, stale, or not live)."""
    session_id = await conn.fetchval("SELECT current_session_id FROM rooms WHERE room_id = $1", room_id)
    if session_id is None:
        return None
    return await _touch(conn, str(session_id), viewer_id, now, stale_before)


async def leave(
    conn: asyncpg.Connection, room_id: str, viewer_id: str, now: datetime, stale_before: datetime
) -> list[ClosedVisit]:
    """Close the viewer's open visit of the room (a stale one ended at its last heartbeat)."""
    rows = await conn.fetch(
        f"""UPDATE room_views v
            SET left_at = CASE WHEN v.last_seen_at >= $4 THEN GREATEST($3, v.last_seen_at) ELSE v.last_seen_at END
            FROM rooms r
            WHERE r.room_id = v.room_id AND v.session_id = r.current_session_id AND r.room_id = $1
              AND v.viewer_id = $2 AND v.left_at IS NULL
            RETURNING {_CLOSED}""",  # noqa: S608 - fixed columns
        room_id,
        viewer_id,
        now,
        stale_before,
    )
    return _closed(rows)


async def close_session_visits(
    conn: asyncpg.Connection, session_id: str, now: datetime, stale_before: datetime
) -> None:
    """The session ended: every open visit ends now (a stale one at its last heartbeat), and its VisitEnded is
    recorded at once (no re-join continues a visit of an ended session)."""
    rows = await conn.fetch(
        f"""UPDATE room_views v
            SET left_at = CASE WHEN v.last_seen_at >= $2 THEN GREATEST($3, v.last_seen_at) ELSE v.last_seen_at END
            FROM rooms r
            WHERE r.room_id = v.room_id AND v.session_id = $1 AND v.left_at IS NULL
            RETURNING {_CLOSED}""",  # noqa: S608 - fixed columns
        session_id,
        stale_before,
        now,
    )
    await add_events(conn, *(visit_ended(visit, now) for visit in _closed(rows)))


async def close_stale_visits(conn: asyncpg.Connection, session_id: str, stale_before: datetime) -> list[ClosedVisit]:
    """Write down as left, at their last heartbeat, the session's visits that stopped beating."""
    rows = await conn.fetch(
        f"""UPDATE room_views v SET left_at = v.last_seen_at FROM rooms r
            WHERE r.room_id = v.room_id AND v.session_id = $1 AND v.left_at IS NULL AND v.last_seen_at < $2
            RETURNING {_CLOSED}""",  # noqa: S608 - fixed columns
        session_id,
        stale_before,
    )
    return _closed(rows)


async def unreported_visit(conn: asyncpg.Connection, visit_id: str) -> ClosedVisit | None:
    """The closed visit whose VisitEnded job is running, or None if a re-join continued it meanwhile."""
    # The job's row first, then the visit's: the order a continuing join takes them in (`_continue`).
    if not await conn.fetchval(
        "SELECT true FROM due_jobs WHERE kind = $1 AND key = $2 FOR UPDATE", VISIT_ENDED, visit_id
    ):
        return None
    rows = await conn.fetch(
        f"""SELECT {_CLOSED} FROM room_views v JOIN rooms r ON r.room_id = v.room_id
            WHERE v.view_id = $1 AND v.left_at IS NOT NULL FOR UPDATE OF v""",  # noqa: S608 - fixed columns
        int(visit_id),
    )
    return _closed(rows)[0] if rows else None


async def concurrent_viewers(conn: asyncpg.Connection, room_ids: list[str], stale_before: datetime) -> dict[str, int]:
    """Present viewers per room (0 for a room that is not live)."""
    rows = await conn.fetch(
        """SELECT r.room_id, count(v.viewer_id) AS present
           FROM rooms r LEFT JOIN room_views v
             ON v.session_id = r.current_session_id AND v.left_at IS NULL AND v.last_seen_at >= $2
           WHERE r.room_id = ANY($1::uuid[]) GROUP BY r.room_id""",
        room_ids,
        stale_before,
    )
    return {str(r["room_id"]): r["present"] for r in rows}


async def viewer_present(conn: asyncpg.Connection, room_id: str, viewer_id: str, stale_before: datetime) -> bool:
    """The viewer has a present visit of the room's current session (joined, not left, heartbeat fresh)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (
                   SELECT 1 FROM room_views v JOIN rooms r ON r.current_session_id = v.session_id
                   WHERE r.room_id = $1 AND v.viewer_id = $2 AND v.left_at IS NULL AND v.last_seen_at >= $3)""",
            room_id,
            viewer_id,
            stale_before,
        )
    )


async def room_visit_totals(conn: asyncpg.Connection, room_id: str) -> tuple[int, int]:
    """(views, unique viewers) of the room over all its sessions."""
    row = await conn.fetchrow(
        "SELECT count(*) AS views, count(DISTINCT viewer_id) AS viewers FROM room_views WHERE room_id = $1", room_id
    )
    return row["views"], row["viewers"]


async def session_stats(
    conn: asyncpg.Connection, room_id: str, now: datetime, stale_before: datetime
) -> list[SessionStats]:
    """Every session of the room, oldest first, with its viewer counters as of `now`."""
    rows = await conn.fetch(
        f"""WITH v AS (
                SELECT session_id, viewer_id, joined_at, {_ENDED} AS ended,
                       left_at IS NULL AND last_seen_at >= $3 AS present
                FROM room_views WHERE room_id = $1 AND session_id IS NOT NULL
            ), steps AS (
                SELECT session_id, joined_at AS at, 1 AS delta FROM v
                UNION ALL SELECT session_id, ended, -1 FROM v
            ), running AS (
                -- Sweep the joins and leaves in time order (leaves first at a tie): the highest running
                -- total is the peak, exactly as presence defines it, without a counter every join updates.
                SELECT session_id, sum(delta) OVER (PARTITION BY session_id ORDER BY at, delta
                                                    ROWS UNBOUNDED PRECEDING) AS present
                FROM steps
            ), peaks AS (
                SELECT session_id, max(present) AS peak FROM running GROUP BY session_id
            ), counts AS (
                SELECT session_id, count(*) AS views, count(DISTINCT viewer_id) AS viewers,
                       count(*) FILTER (WHERE present) AS present,
                       avg(extract(epoch FROM ended - joined_at)) AS watch_s
                FROM v GROUP BY session_id
            )
            SELECT s.session_id, s.number, s.started_at, s.ended_at,
                   COALESCE(c.views, 0) AS views, COALESCE(c.viewers, 0) AS viewers,
                   COALESCE(c.present, 0) AS present, COALESCE(p.peak, 0) AS peak,
                   COALESCE(c.watch_s, 0)::float8 AS watch_s
            FROM room_sessions s
            LEFT JOIN counts c ON c.session_id = s.session_id
            LEFT JOIN peaks p ON p.session_id = s.session_id
            WHERE s.room_id = $1 ORDER BY s.number""",  # noqa: S608 - a fixed expression
        room_id,
        now,
        stale_before,
    )
    return [
        SessionStats(
            session_id=str(r["session_id"]),
            number=r["number"],
            started_at=r["started_at"],
            ended_at=r["ended_at"],
            concurrent_viewers=r["present"],
            peak_concurrent_viewers=max(r["peak"], 0),
            unique_viewers=r["viewers"],
            views=r["views"],
            average_watch_s=round(r["watch_s"], 1),
        )
        for r in rows
    ]
