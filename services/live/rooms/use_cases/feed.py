"""Following a room's feed: its state first, then every change in order, as this process's hub delivers it."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from libs.runtime import Runtime
from services.live.rooms.adapters.feed_hub import CLOSED, FeedHub, FeedMessage, feed_hub
from services.live.rooms.use_cases.rooms import get_room
from services.live.rooms.use_cases.state import room_state
from services.live.rooms.views import RoomState


async def follow_room(runtime: Runtime, room_id: str) -> AsyncGenerator[RoomState | FeedMessage, None]:
    """The room's feed: its state, then its events (IDLE after `keepalive_s` without one); 404 before it starts."""
    room = await get_room(runtime, room_id)
    return _follow(runtime, feed_hub(runtime), room.room_id)


async def _follow(runtime: Runtime, hub: FeedHub, room_id: str) -> AsyncGenerator[RoomState | FeedMessage, None]:
    # Subscribed inside the stream, so that a client gone before the first byte leaves nothing behind.
    client = hub.subscribe(room_id)
    try:
        # Subscribe, then read the state: nothing committed after the state can fall between the two.
        state = await room_state(runtime, room_id)
        client.ready(state.seq, state.concurrent_viewers)
        yield state
        while True:
            message = await client.next(hub.keepalive_s)
            if message is CLOSED:
                return
            yield message
    finally:
        client.close()
