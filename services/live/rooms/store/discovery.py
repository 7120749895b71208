"""SQL for listings of rooms: live now by viewers, scheduled by start, a host's rooms, each with its pinned entry; a
merchant's rooms by status."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.live.rooms.domain.discovery import ENDED, HOST_PAGE_ENDED, LIVE
from services.live.rooms.views import MerchantRoom, PinnedSummary, RoomListing

# $1 is the presence cutoff (stale_before): a visit counts while its heartbeat is fresh, as everywhere else.
_LISTING = """
    SELECT r.room_id, r.title, r.cover_url, r.host_id, r.merchant_id, r.status, r.scheduled_start_at,
           COALESCE(w.viewers, 0) AS viewers,
           r.pinned_product_id, p.title AS product_title, p.skus -> 0 ->> 'currency' AS product_currency,
           (SELECT min((s ->> 'price_minor')::bigint) FROM jsonb_array_elements(p.skus) s) AS product_price_minor,
           r.pinned_deal_id, d.title AS deal_title, d.price_minor AS deal_price_minor, d.currency AS deal_currency,
           (SELECT max(ended_at) FROM room_sessions s WHERE s.room_id = r.room_id) AS last_ended_at
    FROM rooms r
    LEFT JOIN LATERAL (
        SELECT count(*) AS viewers FROM room_views v
        WHERE r.status = 'live' AND v.session_id = r.current_session_id AND v.left_at IS NULL
          AND v.last_seen_at >= $1
    ) w ON true
    LEFT JOIN products p ON p.product_id = r.pinned_product_id
    LEFT JOIN deals d ON d.deal_id = r.pinned_deal_id"""

# Rooms of hosts the buyer ($2) follows, or every room when $2 is null.
_FOLLOWED = "($2::text IS NULL OR r.host_id IN (SELECT host_id FROM host_follows WHERE buyer_id = $2))"


def _pinned(row: asyncpg.Record) -> PinnedSummary | None:
    if row["pinned_product_id"] and row["product_title"] is not None:
        return PinnedSummary(
            kind="product",
            product_id=str(row["pinned_product_id"]),
            title=row["product_title"],
            price_minor=row["product_price_minor"],
            currency=row["product_currency"],
        )
    if row["pinned_deal_id"] and row["deal_title"] is not None:
        return PinnedSummary(
            kind="deal",
            deal_id=str(row["pinned_deal_id"]),
            title=row["deal_title"],
            price_minor=row["deal_price_minor"],
            currency=row["deal_currency"],
        )
    return None


def _listing(row: asyncpg.Record) -> RoomListing:
    return RoomListing(
        room_id=str(row["room_id"]),
        title=row["title"],
        cover_url=row["cover_url"],
        host_id=row["host_id"],
        merchant_id=str(row["merchant_id"]),
        status=row["status"],
        concurrent_viewers=row["viewers"],
        pinned=_pinned(row),
        scheduled_start_at=row["scheduled_start_at"],
    )


async def live_rooms(
    conn: asyncpg.Connection,
    stale_before: datetime,
    *,
    follower: str | None,
    after: tuple[int, str] | None,
    limit: int,
) -> list[RoomListing]:
    """Live rooms by present viewers (most first, then room id), after the cursor's (viewers, room id)."""
    viewers, room_id = after if after else (None, None)
    rows = await conn.fetch(
        f"""SELECT * FROM ({_LISTING} WHERE r.status = 'live' AND {_FOLLOWED}) l
            WHERE $3::bigint IS NULL OR l.viewers < $3 OR (l.viewers = $3 AND l.room_id > $4::uuid)
            ORDER BY l.viewers DESC, l.room_id LIMIT $5""",  # noqa: S608 - fixed fragments
        stale_before,
        follower,
        viewers,
        room_id,
        limit,
    )
    return [_listing(r) for r in rows]


async def scheduled_rooms(
    conn: asyncpg.Connection,
    stale_before: datetime,
    *,
    follower: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
) -> list[RoomListing]:
    """Scheduled rooms with a start time, soonest first (then room id), after the cursor's (start, room id)."""
    at, room_id = after if after else (None, None)
    rows = await conn.fetch(
        f"""{_LISTING}
            WHERE r.status = 'scheduled' AND r.scheduled_start_at IS NOT NULL AND {_FOLLOWED}
              AND ($3::timestamptz IS NULL OR (r.scheduled_start_at, r.room_id) > ($3, $4::uuid))
            ORDER BY r.scheduled_start_at, r.room_id LIMIT $5""",
        stale_before,
        follower,
        at,
        room_id,
        limit,
    )
    return [_listing(r) for r in rows]


async def host_rooms(conn: asyncpg.Connection, host_id: str, stale_before: datetime) -> list[RoomListing]:
    """The host's rooms: live (most viewers first), scheduled (soonest first, unscheduled last), then the most
    recently ended."""
    rows = await conn.fetch(
        f"""SELECT * FROM ({_LISTING} WHERE r.host_id = $2) l
            WHERE l.status <> 'ended' OR l.room_id IN (
                SELECT e.room_id FROM rooms e WHERE e.host_id = $2 AND e.status = 'ended'
                ORDER BY (SELECT max(ended_at) FROM room_sessions s WHERE s.room_id = e.room_id) DESC NULLS LAST,
                         e.room_id
                LIMIT $3)
            ORDER BY CASE l.status WHEN 'live' THEN 0 WHEN 'scheduled' THEN 1 ELSE 2 END,
                     CASE WHEN l.status = 'live' THEN -l.viewers END,
                     CASE WHEN l.status = 'scheduled' THEN l.scheduled_start_at END NULLS LAST,
                     l.last_ended_at DESC NULLS LAST, l.room_id""",  # noqa: S608 - fixed fragments
        stale_before,
        host_id,
        HOST_PAGE_ENDED,
    )
    return [_listing(r) for r in rows]


# A merchant's rooms of one status ($2), with the last session and the present viewers ($1: the presence cutoff).
# `sort_at` is the listing's order: live by their session's start and ended by their last end (newest first, then
# room id descending); scheduled by scheduled start (soonest first, unannounced last as 'infinity', then room id).
_MERCHANT_ROOMS = """
    SELECT r.room_id, r.title, r.cover_url, r.host_id, r.merchant_id, r.status, r.scheduled_start_at, r.created_at,
           last.number AS sessions, last.started_at AS last_started_at, last.ended_at AS last_ended_at,
           COALESCE(w.viewers, 0) AS viewers,
           CASE r.status WHEN 'live' THEN last.started_at WHEN 'ended' THEN last.ended_at
                ELSE COALESCE(r.scheduled_start_at, 'infinity') END AS sort_at
    FROM rooms r
    LEFT JOIN LATERAL (
        SELECT s.number, s.started_at, s.ended_at FROM room_sessions s
        WHERE s.room_id = r.room_id ORDER BY s.number DESC LIMIT 1
    ) last ON true
    LEFT JOIN LATERAL (
        SELECT count(*) AS viewers FROM room_views v
        WHERE r.status = 'live' AND v.session_id = r.current_session_id AND v.left_at IS NULL
          AND v.last_seen_at >= $1
    ) w ON true
    WHERE r.merchant_id = $3 AND r.status = $2"""


async def merchant_rooms(
    conn: asyncpg.Connection,
    merchant_id: str,
    status: str,
    stale_before: datetime,
    *,
    after: tuple[datetime | None, str] | None,
    limit: int,
) -> list[MerchantRoom]:
    """The merchant's rooms of `status` in the listing's order, after the cursor's (sort time, room id); a scheduled
    room's null time is 'unannounced' (after every announced one)."""
    at, room_id = after if after else (None, None)
    if status in (LIVE, ENDED):
        keyset = "$4::timestamptz IS NULL OR (l.sort_at, l.room_id) < ($4, $5::uuid)"
        order = "l.sort_at DESC, l.room_id DESC"
    else:
        keyset = "$5::uuid IS NULL OR (l.sort_at, l.room_id) > (COALESCE($4::timestamptz, 'infinity'), $5::uuid)"
        order = "l.sort_at, l.room_id"
    rows = await conn.fetch(
        f"SELECT * FROM ({_MERCHANT_ROOMS}) l WHERE {keyset} ORDER BY {order} LIMIT $6",  # noqa: S608 - fixed fragments
        stale_before,
        status,
        merchant_id,
        at,
        room_id,
        limit,
    )
    return [
        MerchantRoom(
            room_id=str(r["room_id"]),
            title=r["title"],
            cover_url=r["cover_url"],
            host_id=r["host_id"],
            merchant_id=str(r["merchant_id"]),
            status=r["status"],
            scheduled_start_at=r["scheduled_start_at"],
            created_at=r["created_at"],
            sessions=r["sessions"] or 0,
            last_started_at=r["last_started_at"],
            last_ended_at=r["last_ended_at"],
            concurrent_viewers=r["viewers"],
        )
        for r in rows
    ]
