"""Discovery: rooms live now (by viewers), scheduled rooms, rooms of hosts a buyer follows, a host's page; and a
merchant's own rooms by status, for the merchant and its hosts."""

from __future__ import annotations

from libs.auth import Principal
from libs.runtime import Runtime
from services.live.rooms import domain, store
from services.live.rooms.domain import discovery
from services.live.rooms.domain.discovery import ENDED, LIVE, HostNotFound
from services.live.rooms.use_cases.shelves import host_shelf_of
from services.live.rooms.views import HostPage, MerchantRoomPage, RoomPage


async def list_rooms(
    runtime: Runtime, caller: Principal | None, *, status: str, following: bool, limit: int, cursor: str | None
) -> RoomPage:
    """A page of live rooms (most viewers first) or scheduled ones (soonest first), of followed hosts if asked."""
    follower = discovery.follower(caller, following)
    viewers, at, room_id = discovery.decode_room_cursor(cursor, status) if cursor else (None, None, None)
    stale_before = domain.stale_before(runtime.clock.now())
    async with runtime.db.transaction() as conn:
        if status == LIVE:
            after_live = (viewers, room_id) if viewers is not None and room_id else None
            found = await store.discovery.live_rooms(
                conn, stale_before, follower=follower, after=after_live, limit=limit + 1
            )
        else:
            after_start = (at, room_id) if at is not None and room_id else None
            found = await store.discovery.scheduled_rooms(
                conn, stale_before, follower=follower, after=after_start, limit=limit + 1
            )
    items = found[:limit]
    if len(found) <= limit:
        return RoomPage(items=items)
    last = items[-1]
    next_cursor = discovery.encode_room_cursor(status, last.concurrent_viewers, last.scheduled_start_at, last.room_id)
    return RoomPage(items=items, next_cursor=next_cursor)


async def host_page(runtime: Runtime, host_id: str, caller: Principal | None) -> HostPage:
    """The host's fans, rooms, videos (through the registered `HostShelf`), and whether the caller (a buyer) follows
    them; 404 for a host live has not seen (neither a room nor a video)."""
    now = runtime.clock.now()
    stale_before = domain.stale_before(now)
    shelf = host_shelf_of(runtime)
    async with runtime.db.transaction() as conn:
        rooms = await store.discovery.host_rooms(conn, host_id, stale_before)
        videos = await shelf.host_videos(runtime, conn, host_id, now) if shelf is not None else []
        if not rooms and not videos:
            raise HostNotFound()
        buyer = caller.sub if caller is not None and caller.role == "buyer" else None
        following = buyer is not None and await store.follows.follows(conn, host_id, buyer)
        fans = await store.follows.fans(conn, host_id)
        return HostPage(host_id=host_id, fans=fans, following=following, rooms=rooms, videos=videos)


async def merchant_rooms(
    runtime: Runtime, caller: Principal, merchant_id: str, *, status: str, limit: int, cursor: str | None
) -> MerchantRoomPage:
    """A page of the merchant's rooms of `status` (live, scheduled with unannounced ones last, ended), for the
    merchant and the hosts linked to it."""
    merchant = discovery.merchant_of_listing(caller, merchant_id)
    after = discovery.decode_merchant_room_cursor(cursor, status) if cursor else None
    stale_before = domain.stale_before(runtime.clock.now())
    async with runtime.db.transaction() as conn:
        found = await store.discovery.merchant_rooms(conn, merchant, status, stale_before, after=after, limit=limit + 1)
    items = found[:limit]
    if len(found) <= limit:
        return MerchantRoomPage(items=items)
    last = items[-1]
    at = {LIVE: last.last_started_at, ENDED: last.last_ended_at}.get(status, last.scheduled_start_at)
    return MerchantRoomPage(items=items, next_cursor=discovery.encode_merchant_room_cursor(status, at, last.room_id))
