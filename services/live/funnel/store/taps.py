"""What client taps are checked against: the rooms and videos they name, as they are now (live's own tables)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.live.funnel.domain.taps import RoomNow, VideoNow
from services.live.videos.store.videos import video_refs


async def rooms_now(conn: asyncpg.Connection, room_ids: Sequence[str]) -> dict[str, RoomNow]:
    """The named rooms (canonical ids) with their live session and their bag, by id; unknown ones are absent."""
    # One statement for the whole batch rather than rooms' lookups per room (room, session, bag): a tap batch is on
    # the hot path of every viewer's client.
    rows = await conn.fetch(
        """SELECT r.room_id, r.host_id, r.merchant_id, r.current_session_id,
                  coalesce(array_agg(b.product_id::text) FILTER (WHERE b.product_id IS NOT NULL), '{}') AS product_ids,
                  coalesce(array_agg(b.deal_id::text) FILTER (WHERE b.deal_id IS NOT NULL), '{}') AS deal_ids
           FROM rooms r LEFT JOIN bag_items b ON b.room_id = r.room_id
           WHERE r.room_id = ANY($1::uuid[]) GROUP BY r.room_id""",
        list(room_ids),
    )
    return {
        str(r["room_id"]): RoomNow(
            room_id=str(r["room_id"]),
            host_id=r["host_id"],
            merchant_id=str(r["merchant_id"]),
            session_id=str(r["current_session_id"]) if r["current_session_id"] else None,
            product_ids=frozenset(r["product_ids"]),
            deal_ids=frozenset(r["deal_ids"]),
        )
        for r in rows
    }


async def videos_now(conn: asyncpg.Connection, video_ids: Sequence[str]) -> dict[str, VideoNow]:
    """The named videos (canonical ids) that are published (not deleted) with their anchors, by id."""
    return {
        ref.video_id: VideoNow(
            video_id=ref.video_id,
            host_id=ref.host_id,
            merchant_id=ref.merchant_id,
            product_ids=frozenset(ref.product_ids),
            deal_ids=frozenset(ref.deal_ids),
        )
        for ref in (await video_refs(conn, video_ids)).values()
        if not ref.deleted
    }
