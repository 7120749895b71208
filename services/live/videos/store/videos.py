"""SQL for short videos and their anchors."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from libs.ids import canonical_uuid
from services.live.videos.domain import DEAL, PRODUCT, AnchorAsked
from services.live.videos.views import VideoListing, VideoRef

_REF = """SELECT v.video_id, v.host_id, v.merchant_id, v.room_id, v.deleted_at IS NOT NULL AS deleted,
                 coalesce(array_agg(a.product_id::text ORDER BY a.position)
                          FILTER (WHERE a.product_id IS NOT NULL), '{}') AS product_ids,
                 coalesce(array_agg(a.deal_id::text ORDER BY a.position)
                          FILTER (WHERE a.deal_id IS NOT NULL), '{}') AS deal_ids
          FROM videos v LEFT JOIN video_anchors a USING (video_id)"""


def _ref(row: asyncpg.Record) -> VideoRef:
    return VideoRef(
        video_id=str(row["video_id"]),
        host_id=row["host_id"],
        merchant_id=str(row["merchant_id"]),
        room_id=str(row["room_id"]) if row["room_id"] else None,
        product_ids=tuple(row["product_ids"]),
        deal_ids=tuple(row["deal_ids"]),
        deleted=row["deleted"],
    )


async def video_ref(conn: asyncpg.Connection, video_id: str) -> VideoRef | None:
    """The video as other areas check it (deleted ones too, `deleted` says so); None if unknown or malformed."""
    video_id = canonical_uuid(video_id)
    if video_id is None:
        return None
    row = await conn.fetchrow(f"{_REF} WHERE v.video_id = $1 GROUP BY v.video_id", video_id)
    return _ref(row) if row else None


_SELECT_LISTING = """SELECT video_id, host_id, merchant_id, title, media_url, cover_url, duration_s, room_id,
                             published_at
                      FROM videos v"""


def listing(row: asyncpg.Record) -> VideoListing:
    return VideoListing(
        video_id=str(row["video_id"]),
        host_id=row["host_id"],
        merchant_id=str(row["merchant_id"]),
        title=row["title"],
        media_url=row["media_url"],
        cover_url=row["cover_url"],
        duration_s=row["duration_s"],
        room_id=str(row["room_id"]) if row["room_id"] else None,
        published_at=row["published_at"],
    )


async def insert_video(conn: asyncpg.Connection, video: VideoListing, anchors: Sequence[AnchorAsked]) -> None:
    """A new video and its anchors, in the order given (positions from 1)."""
    await conn.execute(
        """INSERT INTO videos (video_id, host_id, merchant_id, title, media_url, cover_url, duration_s, room_id,
                               published_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        video.video_id,
        video.host_id,
        video.merchant_id,
        video.title,
        video.media_url,
        video.cover_url,
        video.duration_s,
        video.room_id,
        video.published_at,
    )
    await conn.execute(
        """INSERT INTO video_anchors (video_id, position, product_id, deal_id)
           SELECT $1, t.position, t.product_id, t.deal_id
           FROM unnest($2::int[], $3::uuid[], $4::uuid[]) AS t(position, product_id, deal_id)""",
        video.video_id,
        list(range(1, len(anchors) + 1)),
        [a.item_id if a.kind == PRODUCT else None for a in anchors],
        [a.item_id if a.kind == DEAL else None for a in anchors],
    )


async def fetch_listing(conn: asyncpg.Connection, video_id: str) -> VideoListing | None:
    """A video not deleted (`video_id` canonical)."""
    row = await conn.fetchrow(_SELECT_LISTING + " WHERE video_id = $1 AND deleted_at IS NULL", video_id)
    return listing(row) if row else None


async def list_videos(
    conn: asyncpg.Connection,
    *,
    host_id: str | None = None,
    merchant_id: str | None = None,
    product_id: str | None = None,
    room_id: str | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int,
) -> list[VideoListing]:
    """Videos not deleted, newest first, filtered by whichever of host, merchant, anchored product and replayed room
    are given, after a keyset position."""
    at, after_id = after or (None, None)
    rows = await conn.fetch(
        """SELECT video_id, host_id, merchant_id, title, media_url, cover_url, duration_s, room_id, published_at
           FROM videos v
           WHERE deleted_at IS NULL
              AND ($1::text IS NULL OR host_id = $1)
              AND ($2::uuid IS NULL OR merchant_id = $2)
              AND ($3::uuid IS NULL OR EXISTS (
                    SELECT 1 FROM video_anchors a WHERE a.video_id = v.video_id AND a.product_id = $3))
              AND ($4::uuid IS NULL OR room_id = $4)
              AND ($5::timestamptz IS NULL OR (published_at, video_id) < ($5, $6::uuid))
            ORDER BY published_at DESC, video_id DESC
            LIMIT $7""",
        host_id,
        merchant_id,
        product_id,
        room_id,
        at,
        after_id,
        limit,
    )
    return [listing(r) for r in rows]


async def anchor_rows(conn: asyncpg.Connection, video_id: str) -> list[asyncpg.Record]:
    """A video's anchors in order, with what live's replicas know of each (product title and SKU snapshots; deal
    title, price and status)."""
    return await conn.fetch(
        """SELECT a.position, a.product_id, a.deal_id, coalesce(p.title, d.title) AS title, p.skus,
                  d.price_minor, d.currency, d.status
           FROM video_anchors a
           LEFT JOIN products p ON p.product_id = a.product_id
           LEFT JOIN deals d ON d.deal_id = a.deal_id
           WHERE a.video_id = $1 ORDER BY a.position""",
        video_id,
    )


async def mark_deleted(conn: asyncpg.Connection, video_id: str, now: datetime) -> bool:
    """Hide the video from buyers (its row stays: orders and the funnel name it); True if it was shown."""
    return (
        await conn.execute(
            "UPDATE videos SET deleted_at = $2 WHERE video_id = $1 AND deleted_at IS NULL", video_id, now
        )
    ) == "UPDATE 1"


async def video_refs(conn: asyncpg.Connection, video_ids: Sequence[str]) -> dict[str, VideoRef]:
    """`video_ref` of many videos at once (canonical ids), by id; unknown ones are absent."""
    rows = await conn.fetch(f"""{_REF} WHERE v.video_id = ANY($1::uuid[]) GROUP BY v.video_id""", list(video_ids))
    return {str(r["video_id"]): _ref(r) for r in rows}


async def product_merchants(conn: asyncpg.Connection, product_ids: Sequence[str]) -> dict[str, str]:
    """product -> merchant, for those of `product_ids` in live's catalogue replica."""
    rows = await conn.fetch(
        "SELECT product_id, merchant_id FROM products WHERE product_id = ANY($1::uuid[])", list(product_ids)
    )
    return {str(r["product_id"]): str(r["merchant_id"]) for r in rows}


async def deal_states(conn: asyncpg.Connection, deal_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """deal -> (merchant, status), for those of `deal_ids` in live's deals replica."""
    rows = await conn.fetch(
        "SELECT deal_id, merchant_id, status FROM deals WHERE deal_id = ANY($1::uuid[])", list(deal_ids)
    )
    return {str(r["deal_id"]): (str(r["merchant_id"]), r["status"]) for r in rows}


async def hosts_for_merchant(conn: asyncpg.Connection, host_id: str, merchant_id: str) -> bool:
    """Whether `host_id` has hosted a room for the merchant (live knows hosts by their rooms)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM rooms WHERE host_id = $1 AND merchant_id = $2)", host_id, merchant_id
        )
    )
