"""The room feed over Server-Sent Events: the state first, then every change in order."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing

import msgspec
from litestar import get
from litestar.response import ServerSentEvent, ServerSentEventMessage

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.live.rooms.adapters.feed_hub import IDLE, FeedMessage
from services.live.rooms.use_cases import feed
from services.live.rooms.views import RoomState

# Browsers wait this long (ms) before reconnecting a dropped feed.
RECONNECT_MS = 2000


async def _events(messages: AsyncGenerator[RoomState | FeedMessage, None]) -> AsyncIterator[ServerSentEventMessage]:
    # Closing this stream (the client went away) closes the feed's at once, which unsubscribes it from the hub.
    async with aclosing(messages):
        async for message in messages:
            if isinstance(message, RoomState):
                data = msgspec.json.encode(message).decode()
                yield ServerSentEventMessage(event="state", id=message.seq, data=data, retry=RECONNECT_MS)
            elif message is IDLE:
                # A comment line: proxies see traffic and keep the connection open; clients ignore it.
                yield ServerSentEventMessage(data=None, comment="keep-alive")
            else:
                yield ServerSentEventMessage(
                    event=message.kind, id=message.seq, data=msgspec.json.encode(message.data).decode()
                )


@get("/rooms/{room_id:str}/feed", tags=["feed"])
async def room_feed(room_id: str, runtime: Runtime) -> ServerSentEvent:
    """The room's live feed (text/event-stream): `state`, then `event: <kind>`, `id: <seq>`; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    messages = await feed.follow_room(runtime, room_id)  # 404 before the stream starts
    return ServerSentEvent(_events(messages))
