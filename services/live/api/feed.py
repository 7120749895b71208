"""The room feed over Server-Sent Events: the state first, then every change in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
from litestar import get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from libs.runtime import Runtime
from services.live import use_cases
from services.live.api.common import tag_room
from services.live.hub import CLOSED, IDLE, FeedHub

# Browsers wait this long (ms) before reconnecting a dropped feed.
RECONNECT_MS = 2000


async def _events(runtime: Runtime, hub: FeedHub, room_id: str) -> AsyncIterator[ServerSentEventMessage]:
    # Subscribed inside the stream, so that a client gone before the first byte leaves nothing behind.
    client = hub.subscribe(room_id)
    try:
        # Subscribe, then read the state: nothing committed after the state can fall between the two.
        state = await use_cases.room_state(runtime.db, runtime.clock, room_id)
        client.ready(state.seq, state.concurrent_viewers)
        data = msgspec.json.encode(state).decode()
        yield ServerSentEventMessage(event="state", id=state.seq, data=data, retry=RECONNECT_MS)
        while True:
            message = await client.next(hub.keepalive_s)
            if message is CLOSED:
                return
            if message is IDLE:
                # A comment line: proxies see traffic and keep the connection open; clients ignore it.
                yield ServerSentEventMessage(data=None, comment="keep-alive")
                continue
            yield ServerSentEventMessage(
                event=message.kind, id=message.seq, data=msgspec.json.encode(message.data).decode()
            )
    finally:
        client.close()


@get("/rooms/{room_id:str}/feed", tags=["feed"])
async def room_feed(room_id: str, runtime: Runtime) -> ServerSentEvent:
    """The room's live feed (text/event-stream): `state`, then `event: <kind>`, `id: <seq>`; public."""
    tag_room(room_id)
    room = await use_cases.get_room(runtime.db, room_id)  # 404 before the stream starts
    hub: FeedHub = runtime.extras["feed_hub"]
    return ServerSentEvent(_events(runtime, hub, room.room_id))
