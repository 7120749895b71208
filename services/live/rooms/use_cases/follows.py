"""Buyers follow and unfollow hosts (each host's fan count moves with the follow row), and list whom they follow."""

from __future__ import annotations

from libs.auth import Principal
from libs.runtime import Runtime
from services.live.rooms import store
from services.live.rooms.domain import discovery
from services.live.rooms.domain.discovery import HostNotFound
from services.live.rooms.views import FollowingPage


async def follow_host(runtime: Runtime, buyer: Principal, host_id: str) -> None:
    """Follow the host; following again changes nothing (one fan per buyer)."""
    discovery.ensure_not_self(buyer.sub, host_id)
    async with runtime.db.transaction() as conn:
        if not await store.follows.host_known(conn, host_id):
            raise HostNotFound()
        await store.follows.follow(conn, host_id, buyer.sub, runtime.clock.now())


async def unfollow_host(runtime: Runtime, buyer: Principal, host_id: str) -> None:
    """Stop following the host; again (or never having followed) changes nothing."""
    async with runtime.db.transaction() as conn:
        await store.follows.unfollow(conn, host_id, buyer.sub)


async def my_following(runtime: Runtime, buyer: Principal, *, limit: int, cursor: str | None) -> FollowingPage:
    """The hosts the buyer follows, newest follow first."""
    after = discovery.decode_follow_cursor(cursor) if cursor else None
    async with runtime.db.transaction() as conn:
        found = await store.follows.following(conn, buyer.sub, after, limit + 1)
    items = found[:limit]
    if len(found) <= limit:
        return FollowingPage(items=items)
    return FollowingPage(
        items=items, next_cursor=discovery.encode_follow_cursor(items[-1].followed_at, items[-1].host_id)
    )
