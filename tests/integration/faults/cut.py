"""A TCP proxy on 127.0.0.1 that a test can cut and restore: an outside system (the Stripe emulator) going away.

`CutProxy(target_port).start()` listens on a port of its own and pipes every connection to the target. `cut()` makes
the target unreachable the way a network failure does:

- `"refuse"` (the default): the proxy stops listening, so a new connection is refused, and every open connection is
  closed at once, a request half-way through included (its answer is lost even if the target acted on it);
- `"reset"`: the proxy keeps listening, but closes each connection as soon as it is accepted, and every open one.

`restore()` listens (or pipes) again on the same port. `cut_for(seconds)` does both around a pause. Only loopback
traffic, and only to the one target it was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Literal

from devstack.embedded import free_port

Mode = Literal["refuse", "reset"]
_CHUNK = 64 * 1024


class CutProxy:
    """A cuttable TCP pipe from 127.0.0.1:`port` to 127.0.0.1:`target_port`."""

    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", port: int | None = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.cut_mode: Mode | None = None
        self.accepted = 0  # connections piped to the target
        self.dropped = 0  # connections closed by a cut (open ones) or refused while it lasted ("reset" mode)
        self.cuts: list[tuple[float, float | None]] = []  # (cut at, restored at) in time.monotonic()
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> CutProxy:
        await self._listen()
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut_mode is not None:
            self.dropped += 1
            _abort(writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _abort(writer)
            return
        if self.cut_mode is not None:  # cut while we were connecting
            self.dropped += 1
            _abort(writer)
            _abort(upstream_writer)
            return
        self.accepted += 1
        self._writers |= {writer, upstream_writer}
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_pump(reader, upstream_writer), _pump(upstream_reader, writer))
        except asyncio.CancelledError:
            # Only `stop()` cancels a pipe; asyncio's server callback would log a cancelled handler as an error.
            pass
        finally:
            self._pipes.discard(task)
            for end in (writer, upstream_writer):
                self._writers.discard(end)
                _abort(end)

    async def cut(self, mode: Mode = "refuse") -> None:
        """From now on nothing gets through: see the module docstring for the two modes."""
        if self.cut_mode is not None:
            return
        self.cut_mode = mode
        self.cuts.append((time.monotonic(), None))
        if mode == "refuse" and self._server is not None:
            self._server.close()
            # Server.wait_closed() also waits for the open connections' handlers; those are aborted just below.
            self._server = None
        self.dropped += len(self._pipes)
        for writer in list(self._writers):
            _abort(writer)

    async def restore(self) -> None:
        """Let connections through again, on the same port."""
        if self.cut_mode is None:
            return
        if self._server is None:
            await self._listen()
        self.cut_mode = None
        began, _ = self.cuts[-1]
        self.cuts[-1] = (began, time.monotonic())

    @asynccontextmanager
    async def cut_for_block(self, mode: Mode = "refuse") -> AsyncIterator[None]:
        """Cut for the block; restored after it, even when it fails."""
        await self.cut(mode)
        try:
            yield
        finally:
            await self.restore()

    async def cut_for(self, seconds: float, mode: Mode = "refuse") -> None:
        """Cut, wait `seconds`, restore."""
        async with self.cut_for_block(mode):
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            _abort(writer)
        if self._pipes:
            # Aborted transports end their pumps by themselves; a pipe still going after that is cancelled.
            _, stuck = await asyncio.wait(list(self._pipes), timeout=2)
            for task in stuck:
                task.cancel()
            await asyncio.gather(*stuck, return_exceptions=True)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    # One side finished sending: pass the half-close on (HTTP/1.1 keep-alive rarely does this).
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once, without waiting for buffered data: what a dropped connection looks like to both ends."""
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()


__all__ = ["CutProxy", "Mode"]
