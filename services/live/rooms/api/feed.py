"""The room feed over Server-Sent Events: the state first, then every change in order."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.response import ServerSentEvent
from litestar.types import Receive, Scope, Send

from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names, tag
from services.live.rooms.adapters.feed_clients import END
from services.live.rooms.use_cases import feed

# What Litestar's ServerSentEvent answers with (the feed's headers before the hub wrote it), as the server gets them.
_HEADERS = (
    (b"cache-control", b"no-cache"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
    (b"content-type", b"text/event-stream; charset=utf-8"),
)


class FeedStream(ServerSentEvent):
    """The feed's event stream: the state, then the hub writes every event to this request's `send` itself.

    Litestar's ServerSentEvent pulls each event through an iterator in a task group of two tasks per viewer (and its
    first, empty chunks through a thread); this one writes the state, attaches `send` to the hub and waits on
    `receive()` until the viewer goes or the hub ends the response (an ASGI server's `receive` answers
    `http.disconnect` once the response is over, as Litestar's own stream relies on too).
    """

    def __init__(self, start: feed.FeedStart) -> None:
        super().__init__(())  # the body comes from the hub, not from an iterator
        self.start = start

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> Any:
        return self._serve

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.start.client
        try:
            await send({"type": "http.response.start", "status": 200, "headers": list(_HEADERS)})
            await send({"type": "http.response.body", "body": self.start.state, "more_body": True})
            if not client.attach(send):  # type: ignore[arg-type]
                await send(END)  # closed meanwhile (the hub stopped, or it fell behind already): it reconnects
                return
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            client.close()


@get("/rooms/{room_id:str}/feed", tags=["feed"])
async def room_feed(room_id: str, runtime: Runtime) -> ServerSentEvent:
    """The room's live feed (text/event-stream): `state`, then `event: <kind>`, `id: <seq>`; public."""
    tag({names.ROOM_ID: canonical_uuid(room_id)})
    start = await feed.follow_room(runtime, room_id)  # 404 before the stream starts
    return FeedStream(start)
