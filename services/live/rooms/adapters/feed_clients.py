"""The room feed's viewers as the hub writes to them: SSE frames, and one viewer's ASGI `send` driven without waiting.

Plain ASGI: an `http.response.body` message per write, no web framework. A write runs the viewer's `send` up to its
first suspension; an ASGI server's `send` completes there unless the viewer's transport is paused (it reads slower
than the feed goes), so a write is a function call and a socket write, and the hub never awaits a viewer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any

import msgspec

from services.live.rooms.views import RoomState

if TYPE_CHECKING:
    from services.live.rooms.adapters.feed_hub import FeedHub

log = logging.getLogger(__name__)

# An ASGI `send`: an async function (a write runs the coroutine it returns up to its first suspension).
Send = Callable[[dict[str, Any]], Awaitable[None]]

# Browsers wait this long (ms) before reconnecting a dropped feed (the state event's `retry:`).
RECONNECT_MS = 2000
# A comment line: proxies see traffic and keep the connection open; clients ignore it.
KEEP_ALIVE = b": keep-alive\r\n\r\n"
# The end of a response: the ASGI server ends the chunked body, and the endpoint's `receive()` answers disconnect.
END: dict[str, Any] = {"type": "http.response.body", "body": b"", "more_body": False}


def frame(kind: str, seq: int | None, data: bytes, *, retry_ms: int | None = None) -> bytes:
    """One SSE event as the wire carries it: `id:` (when it has a seq), `event:`, `data:` (one line of JSON),
    `retry:`, a blank line (the layout of Litestar's ServerSentEventMessage, which this feed used before)."""
    head = b"id: %d\r\nevent: " % seq if seq is not None else b"event: "
    tail = b"\r\nretry: %d\r\n\r\n" % retry_ms if retry_ms is not None else b"\r\n\r\n"
    name = kind.replace("\r", "").replace("\n", "").encode()
    return b"".join((head, name, b"\r\ndata: ", data, tail))


def state_frame(state: RoomState) -> bytes:
    """The feed's first event: the room's state, `id:` its seq."""
    return frame("state", state.seq, msgspec.json.encode(state), retry_ms=RECONNECT_MS)


def body(chunk: bytes) -> dict[str, Any]:
    """The ASGI message writing `chunk` (more to come)."""
    return {"type": "http.response.body", "body": chunk, "more_body": True}


class FeedClient:
    """One viewer of a room's feed on this process, from `hub.subscribe` until `close`.

    `subscribe` (before the viewer's state is read: events from then on are kept) → `ready(seq, viewers)` (the
    state the viewer gets is as of `seq`: kept events it includes are dropped) → `attach(send)` once the state is
    written (what was kept goes out as one chunk; from then on the hub writes each event as it comes) → `close()`.

    The hub never awaits a viewer. When a `send` cannot complete at once (the viewer's transport is paused: it reads
    slower than events come), a task of this client finishes it while later events are kept, and written as one
    chunk when it is done. A viewer whose kept events pass `max_events` or `max_bytes` is closed: its response ends,
    and it reconnects to a fresh state. So a viewer gets every event in order, or its feed ends; never a gap.
    """

    __slots__ = (
        "_kept",
        "_kept_bytes",
        "_writer",
        "after_seq",
        "closed",
        "hub",
        "max_bytes",
        "max_events",
        "read_from",
        "room_id",
        "send",
        "since",
        "viewers",
    )

    def __init__(self, hub: FeedHub, room_id: str, since: int | None, read_from: int) -> None:
        self.hub = hub
        self.room_id = room_id
        # The room's last seq sent to its clients when this one subscribed: its state must be at least that new.
        self.since = since
        # The first state read started after this client subscribed (hub.read_state's generations).
        self.read_from = read_from
        self.max_events = hub.queue_size
        self.max_bytes = hub.backlog_bytes
        # The seq of the state the client got; until it is known, everything is kept.
        self.after_seq: int | None = None
        self.viewers: int | None = None
        self.send: Send | None = None
        self.closed = False
        self._kept: list[tuple[int | None, bytes]] = []  # (seq or None, SSE bytes), not yet written
        self._kept_bytes = 0
        self._writer: asyncio.Task[None] | None = None  # finishing a send that had to wait

    def ready(self, seq: int, viewers: int) -> None:
        """The client's state is as of `seq`: kept events it already includes are dropped."""
        self.after_seq, self.viewers = seq, viewers
        if self._kept:
            self._kept = [(s, data) for s, data in self._kept if s is None or s > seq]
            self._kept_bytes = sum(len(data) for _, data in self._kept)
        self.hub.client_ready(self)

    def attach(self, send: Send) -> bool:
        """Write this client's events to `send` from now on (the kept ones first); False if it is closed already."""
        if self.closed:
            return False
        self.send = send
        if self._kept:
            self._write_kept()
        return True

    def close(self) -> None:
        """Stop writing to this client and end its response, if it started one; idempotent."""
        if self.closed:
            return
        self.closed = True
        self.hub.unsubscribe(self)
        self._kept.clear()
        if self._writer is not None:
            # Where a send waits, it has not written yet (a server waits for the transport, then writes): cancelling
            # it leaves whole chunks on the wire, and the end of the body follows them.
            self._writer.cancel()
            self._writer = None
        if self.send is not None:
            self._write(END)
            self.send = None  # the response is over: nothing may follow its end

    # --- for the hub ---------------------------------------------------------------------------

    def deliver(self, message: dict[str, Any], first_seq: int, frames: list[tuple[int, bytes]]) -> None:
        """The room's events of this round: `message` carries them all (from `first_seq`), `frames` one by one."""
        after = self.after_seq
        # `send` is set only while attached and not closed.
        if self.send is not None and self._writer is None and after is not None and first_seq > after:
            self._write(message)
        elif not self.closed:
            self._keep([(seq, data) for seq, data in frames if after is None or seq > after])

    def offer(self, data: bytes) -> None:
        """Bytes outside the seq order (a viewer count, a keep-alive)."""
        if self.send is not None and self._writer is None:
            self._write(body(data))
        elif not self.closed:
            self._keep([(None, data)])

    def _keep(self, frames: list[tuple[int | None, bytes]]) -> None:
        if not frames:
            return
        self._kept.extend(frames)
        self._kept_bytes += sum(len(data) for _, data in frames)
        if len(self._kept) > self.max_events or self._kept_bytes > self.max_bytes:
            log.info(
                "feed client of room %s fell %d events (%d bytes) behind; disconnecting it",
                self.room_id,
                len(self._kept),
                self._kept_bytes,
            )
            self.close()
        elif self.send is not None and self._writer is None:
            self._write_kept()  # attached and idle: what passed the seq filter goes now

    def _take_kept(self) -> bytes:
        chunk = b"".join(data for _, data in self._kept)
        self._kept.clear()
        self._kept_bytes = 0
        return chunk

    def _write_kept(self) -> None:
        self._write(body(self._take_kept()))

    def _write(self, message: dict[str, Any]) -> None:
        """Run `send(message)` up to its first suspension: most complete without one (the bytes are written)."""
        assert self.send is not None
        sending = self.send(message)
        try:
            waiting = sending.send(None)  # type: ignore[attr-defined]
        except StopIteration:
            return
        except Exception:
            log.exception("feed client of room %s: writing failed; disconnecting it", self.room_id)
            self.send = None  # nothing more goes to a send that failed, not even the end
            self.close()
            return
        self._writer = asyncio.get_running_loop().create_task(self._finish(sending, waiting))

    async def _finish(self, sending: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            await _Rest(sending, waiting)
            while self._kept and not self.closed:
                await self.send(body(self._take_kept()))  # type: ignore[misc]
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("feed client of room %s: writing failed; disconnecting it", self.room_id)
            self.send = None
            self._writer = None
            self.close()
        finally:
            if self._writer is asyncio.current_task():
                self._writer = None


class _Rest:
    """Awaits the rest of a coroutine that already ran up to its first suspension, where it yielded `waiting`."""

    __slots__ = ("coro", "waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self.coro = coro
        self.waiting = waiting

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, yielded = self.coro, self.waiting
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # handed on to the coroutine, as a task would
                try:
                    yielded = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration as stop:
                    return stop.value
