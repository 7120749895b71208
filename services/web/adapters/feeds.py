"""The SSE relay's upstream side: live's Server-Sent Events feeds (`GET /rooms/{id}/feed`, public;
`GET /rooms/{id}/funnel/feed`, staff, with the user's token) opened with httpx streaming and read event by event.

Bounded on purpose: one upstream connection per feed a browser stream follows (its own small client, so a feed held
open for an hour never takes a connection the pages' API calls need, and closing it closes exactly that one), at
most `MAX_EVENT_BYTES` buffered per event, `MERGE_BUFFER` events between two feeds merged into one browser stream.
An upstream silent for three of live's keep-alive periods, or one that drops, ends the feed: the browser's
EventSource reconnects and live's first event is a fresh `state`, so the page is whole again.

Also here: reads that many streams of this process want at the same moment (a room's bag after an entry was added,
which every viewer's stream learns of at once) made once and shared.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Hashable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from opentelemetry import propagate

from services.web.adapters.apis import ApiRefused, Apis, refusal_of

log = logging.getLogger(__name__)

# live sends a keep-alive comment every 15 s: three missed and the upstream is taken as gone.
UPSTREAM_READ_S = 45.0
CONNECT_S = 5.0
# No event of live's comes near this (a room's state is a few kilobytes); an upstream that sends more is broken.
MAX_EVENT_BYTES = 1 << 20
# Events of two merged feeds waiting for a slow browser; past it the readers wait (and live, past its own queue,
# drops the feed, which ends this stream: the browser reconnects to a fresh state).
MERGE_BUFFER = 64

T = TypeVar("T")


@dataclass(frozen=True)
class SseEvent:
    """One event of a text/event-stream: `event` ("message" if unnamed), `data` (lines joined), `id`; or a comment
    block (a keep-alive: `comment` set, no data)."""

    event: str
    data: str
    id: str | None = None
    comment: str | None = None

    @property
    def keepalive(self) -> bool:
        return self.comment is not None


class FeedBroken(Exception):
    """The upstream sent something no feed of live's sends (an event past `MAX_EVENT_BYTES`)."""


class SseParser:
    """text/event-stream lines in, events out (the WHATWG rules this relay needs: `event`, `id`, `data` lines joined
    with newlines, `:` comments; `retry` is for browsers, which get our own)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._event = ""
        self._id: str | None = None
        self._data: list[str] = []
        self._comments: list[str] = []
        self._size = 0

    def line(self, line: str) -> SseEvent | None:
        """Take one line (without its line break); an event when the line ends one."""
        if line == "":
            return self._dispatch()
        self._size += len(line)
        if self._size > MAX_EVENT_BYTES:
            raise FeedBroken(f"an event of more than {MAX_EVENT_BYTES} bytes")
        if line.startswith(":"):
            self._comments.append(line[1:].removeprefix(" "))
            return None
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> SseEvent | None:
        if self._data:
            event = SseEvent(event=self._event or "message", data="\n".join(self._data), id=self._id)
        elif self._comments:
            event = SseEvent(event="", data="", comment="\n".join(self._comments))
        else:
            event = None
        self._reset()
        return event


# Made once: loading the CA bundle for every client would cost ~30 ms of CPU per browser stream.
_SSL: ssl.SSLContext | None = None


def _ssl() -> ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = ssl.create_default_context()
    return _SSL


async def _events(response: httpx.Response) -> AsyncGenerator[SseEvent, None]:
    parser = SseParser()
    async for line in response.aiter_lines():
        event = parser.line(line.rstrip("\r"))
        if event is not None:
            yield event


@asynccontextmanager
async def live_feed(apis: Apis, path: str, token: str | None = None) -> AsyncIterator[AsyncGenerator[SseEvent, None]]:
    """live's feed at `path`, event by event, on a connection of its own closed when the block ends.

    A refusal before the stream starts (an unknown room: 404; not the room's staff) is `ApiRefused`, as `Apis.call`
    raises it; so is an upstream that does not answer, or drops (503, `unreachable`).
    """
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    propagate.inject(headers)
    timeout = httpx.Timeout(connect=CONNECT_S, read=UPSTREAM_READ_S, write=CONNECT_S, pool=CONNECT_S)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=apis.base_url("live"), timeout=timeout, limits=limits, verify=_ssl()
    ) as client:
        try:
            async with client.stream("GET", path, headers=headers) as response:
                if not response.is_success:
                    await response.aread()
                    raise refusal_of("live", response)
                yield _events(response)
        except (httpx.HTTPError, FeedBroken) as exc:
            raise ApiRefused(
                503, f"live's feed ended ({type(exc).__name__})", service="live", unreachable=True
            ) from exc


_END = object()


@asynccontextmanager
async def merged(*sources: AsyncGenerator[T, None]) -> AsyncIterator[AsyncIterator[tuple[int, T]]]:
    """Several feeds as one: `(index of its source, item)` in arrival order; it ends when any source ends (a browser
    stream is whole only with all of its feeds). The readers stop when the block ends."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=MERGE_BUFFER)

    async def pump(index: int, source: AsyncGenerator[T, None]) -> None:
        try:
            async with aclosing(source):
                async for item in source:
                    await queue.put((index, item))
        except ApiRefused as exc:
            log.info("a live feed ended: %s", exc.detail)
        except Exception:
            log.exception("reading a live feed failed")
        finally:
            # The block may be gone already (the browser left): never wait on a full queue then.
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(_END)

    readers = [asyncio.create_task(pump(i, s), name=f"feed-{i}") for i, s in enumerate(sources)]

    async def items() -> AsyncIterator[tuple[int, T]]:
        while True:
            item = await queue.get()
            if item is _END:
                return
            yield item

    try:
        yield items()
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


class SharedReads:
    """Reads that many streams of this process want at the same moment, made once and shared while in flight.

    A room's bag is public and the same for every viewer: when an entry is added, every viewer's stream of that room
    learns it from the same feed event and asks for the bag; they share one call to live instead of one each.
    """

    def __init__(self) -> None:
        self._flying: dict[Hashable, asyncio.Future[Any]] = {}

    async def read(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        flying = self._flying.get(key)
        if flying is None:
            flying = asyncio.ensure_future(call())
            self._flying[key] = flying
            flying.add_done_callback(lambda done: self._landed(key, done))
        # One stream going away must not cancel the read the others wait for.
        return await asyncio.shield(flying)  # type: ignore[no-any-return]

    def _landed(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        self._flying.pop(key, None)
        if not done.cancelled():
            done.exception()  # seen here, in case every stream that waited for it has gone


SHARED = SharedReads()
