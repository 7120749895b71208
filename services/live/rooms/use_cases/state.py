"""What a viewer's screen shows of a room (`GET /rooms/{id}/state`, the feed's first event)."""

from __future__ import annotations

from libs.runtime import Runtime
from services.live.rooms import domain, store
from services.live.rooms.use_cases.activities import activities_of
from services.live.rooms.use_cases.bag import bag_entry
from services.live.rooms.use_cases.rooms import room_of
from services.live.rooms.views import RoomState


async def room_state(runtime: Runtime, room_id: str) -> RoomState:
    """The room as a viewer's screen shows it, with the `seq` of the newest feed event it includes."""
    # One snapshot for every read: each change commits with its seq bump, so exactly the events with a
    # higher seq are missing from this state (the feed drops the others).
    async with runtime.db.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        room = await room_of(conn, room_id)
        pinned = await bag_entry(conn, room.room_id, await store.rooms.pinned(conn, room.room_id))
        now = runtime.clock.now()
        # What the room's activities (flash sales, coupon drops) show, from the same snapshot.
        listed = {a.state_key: await a.state_in_room(runtime, conn, room.room_id, now) for a in activities_of(runtime)}
        stale_before = domain.stale_before(runtime.clock.now())
        present = await store.visits.concurrent_viewers(conn, [room.room_id], stale_before)
        return RoomState(
            room=room,
            pinned=pinned,
            sales=list(listed.get("sales", [])),
            coupon_drops=list(listed.get("coupon_drops", [])),
            concurrent_viewers=present.get(room.room_id, 0),
            seq=await store.rooms.feed_seq(conn, room.room_id),
        )
