"""SQL for follows: who follows which host, and each host's fan count, kept in the same transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.live.rooms.views import FollowedHost


async def host_known(conn: asyncpg.Connection, host_id: str) -> bool:
    """Live knows a host who has opened a room."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM rooms WHERE host_id = $1)", host_id))


async def follow(conn: asyncpg.Connection, host_id: str, buyer_id: str, now: datetime) -> bool:
    """Follow (True) or find the buyer following already (False); a new follow adds a fan."""
    inserted = await conn.fetchval(
        """INSERT INTO host_follows (host_id, buyer_id, followed_at) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        host_id,
        buyer_id,
        now,
    )
    if inserted:
        await conn.execute(
            """INSERT INTO host_fans (host_id, fans) VALUES ($1, 1)
               ON CONFLICT (host_id) DO UPDATE SET fans = host_fans.fans + 1""",
            host_id,
        )
    return bool(inserted)


async def unfollow(conn: asyncpg.Connection, host_id: str, buyer_id: str) -> bool:
    """Stop following (True) or find the buyer not following (False); a removed follow takes a fan away."""
    deleted = await conn.fetchval(
        "DELETE FROM host_follows WHERE host_id = $1 AND buyer_id = $2 RETURNING true", host_id, buyer_id
    )
    if deleted:
        await conn.execute("UPDATE host_fans SET fans = fans - 1 WHERE host_id = $1 AND fans > 0", host_id)
    return bool(deleted)


async def fans(conn: asyncpg.Connection, host_id: str) -> int:
    return await conn.fetchval("SELECT fans FROM host_fans WHERE host_id = $1", host_id) or 0


async def follows(conn: asyncpg.Connection, host_id: str, buyer_id: str) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM host_follows WHERE host_id = $1 AND buyer_id = $2", host_id, buyer_id)
    )


async def following(
    conn: asyncpg.Connection, buyer_id: str, after: tuple[datetime, str] | None, limit: int
) -> list[FollowedHost]:
    """Hosts the buyer follows, newest follow first (then host id, descending), after the cursor's position."""
    at, host = after if after else (None, None)
    rows = await conn.fetch(
        """SELECT f.host_id, f.followed_at, COALESCE(h.fans, 0) AS fans,
                  EXISTS (SELECT 1 FROM rooms r WHERE r.host_id = f.host_id AND r.status = 'live') AS live
           FROM host_follows f LEFT JOIN host_fans h ON h.host_id = f.host_id
           WHERE f.buyer_id = $1 AND ($2::timestamptz IS NULL OR (f.followed_at, f.host_id) < ($2, $3::text))
           ORDER BY f.followed_at DESC, f.host_id DESC LIMIT $4""",
        buyer_id,
        at,
        host,
        limit,
    )
    return [
        FollowedHost(host_id=r["host_id"], followed_at=r["followed_at"], fans=r["fans"], live=r["live"]) for r in rows
    ]
