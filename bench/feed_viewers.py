"""The feed benchmark's viewers: thousands of SSE connections held by one process (run in a child, spawned).

Why raw asyncio protocols and not httpx or asyncio streams: a viewer here is an `asyncio.Protocol` whose
`data_received` hands the bytes to `bench.feed_sse.SseResponse` and stamps the events it completes with
`time.monotonic_ns()` (CLOCK_MONOTONIC, the same clock in every process of the machine). No task, no StreamReader,
no HTTP client state per viewer while it listens: a wake-up costs one callback and a `bytes.find`. httpx would hold a
task, an h11 connection and anyio streams per viewer and parse every chunk through them (several times the CPU on
two cores that live needs); `asyncio.open_connection` still needs a task per viewer to read. On uvloop, as the
services run.

The parent drives it over a pipe: join (connect `count` viewers, at most `in_flight` waiting for their first event
at once) -> "joined" with each viewer's times; "watch" (until every viewer has the sold-out event of the sale, or
the deadline) -> "watched" with each viewer's record; "close" -> every connection closed, "closed".
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import socket
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
import uvloop

from bench.feed_sse import ResponseError, SseResponse

SOLD_OUT = "sale.sold_out"  # services/live/flash_sales/domain.py SALE_SOLD_OUT: what the feed sends at a sell-out
STATE = "state"


def raise_nofile() -> tuple[int, int, int]:
    """Raise this process's open-file soft limit to the hard one; (soft before, hard, soft now)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return soft, hard, resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass(frozen=True)
class Spec:
    """What the viewers watch and how they join."""

    host: str
    port: int
    room_id: str
    sale_id: str
    count: int
    in_flight: int = 256  # viewers connecting at once (joined = got their first event)
    join_timeout_s: float = 120.0
    first: int = 0  # index of this process's first viewer (several processes split the viewers)


class ViewerRecord(msgspec.Struct, array_like=True):
    """One viewer, as this process saw it (monotonic ns; 0 = never)."""

    index: int
    started_ns: int = 0  # connect attempt
    state_ns: int = 0  # the first event (`state`) arrived
    first_change_ns: int = 0  # the first event after `state`
    sold_out_ns: int = 0  # the sale's `sale.sold_out` arrived
    changes: int = 0  # events after `state` (the room's changes)
    bytes_in: int = 0
    error: str = ""  # why it failed (connect, status, closed early); "" while fine


@dataclass
class Fleet:
    """One process's viewers: their records and connections; `done` once each has the sold-out event or failed."""

    spec: Spec
    records: list[ViewerRecord] = field(default_factory=list)
    transports: list[asyncio.Transport] = field(default_factory=list)
    closing: bool = False
    sold_out: int = 0
    failed: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def settle(self) -> None:
        if self.sold_out + self.failed >= len(self.records):
            self.done.set()


class Viewer(asyncio.Protocol):
    """One SSE connection: reads events as they come, stamps the ones that matter."""

    def __init__(self, fleet: Fleet, record: ViewerRecord, request: bytes) -> None:
        self.fleet = fleet
        self.record = record
        self.request = request
        self.response = SseResponse()
        self.joined: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        record = self.record
        record.bytes_in += len(data)
        try:
            events = self.response.feed(data)
        except ResponseError as exc:
            self._fail(f"bad response: {exc}")
            return
        if self.response.status is not None and self.response.status != 200:
            self._fail(f"HTTP {self.response.status}")
            return
        for event in events:
            if event.event == STATE and not record.state_ns:
                record.state_ns = now
                if not self.joined.done():
                    self.joined.set_result(None)
                continue
            record.changes += 1
            if not record.first_change_ns:
                record.first_change_ns = now
            if (
                event.event == SOLD_OUT
                and not record.sold_out_ns
                and msgspec.json.decode(event.data).get("sale_id") == self.fleet.spec.sale_id
            ):
                record.sold_out_ns = now
                self.fleet.sold_out += 1
                self.fleet.settle()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.fleet.closing and not self.record.error:
            self._fail(f"closed by the server{f': {exc}' if exc else ''}")

    def _fail(self, reason: str) -> None:
        if self.record.error:
            return
        self.record.error = reason
        if not self.joined.done():
            self.joined.set_result(None)
        if not self.record.sold_out_ns:
            self.fleet.failed += 1
            self.fleet.settle()
        self.transport.close()


async def join(fleet: Fleet) -> None:
    """Connect every viewer, at most `in_flight` at once waiting for their first event."""
    spec = fleet.spec
    loop = asyncio.get_running_loop()
    request = (
        f"GET /rooms/{spec.room_id}/feed HTTP/1.1\r\nHost: {spec.host}:{spec.port}\r\n"
        "Accept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"
    ).encode()
    fleet.records = [ViewerRecord(spec.first + i) for i in range(spec.count)]
    todo = iter(fleet.records)

    async def worker() -> None:
        for record in todo:
            record.started_ns = time.monotonic_ns()
            try:
                transport, viewer = await loop.create_connection(
                    lambda r=record: Viewer(fleet, r, request), spec.host, spec.port
                )
            except OSError as exc:
                record.error = f"connect: {exc}"
                fleet.failed += 1
                continue
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            fleet.transports.append(transport)  # type: ignore[arg-type]
            await viewer.joined

    workers = [asyncio.create_task(worker()) for _ in range(max(1, min(spec.in_flight, spec.count)))]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), spec.join_timeout_s)
    except TimeoutError:
        for record in fleet.records:
            if not record.state_ns and not record.error:
                record.error = f"no first event within {spec.join_timeout_s:.0f} s"
                fleet.failed += 1
    fleet.settle()


async def _serve(conn: Any, spec: Spec) -> None:
    fleet = Fleet(spec)
    recv = conn.recv
    while True:
        command, arg = await asyncio.to_thread(recv)
        if command == "join":
            await join(fleet)
            conn.send(("joined", fleet.records))
        elif command == "watch":  # arg: seconds to wait at most for every viewer's sold-out event
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(fleet.done.wait(), arg)
            for record in fleet.records:
                if not record.sold_out_ns and not record.error:
                    record.error = f"no {SOLD_OUT} within {arg:.0f} s"
            conn.send(("watched", fleet.records))
        elif command == "close":
            fleet.closing = True
            for transport in fleet.transports:
                transport.close()
            await asyncio.sleep(0.2)  # let the closes go out before the parent measures live
            conn.send(("closed", None))
            return


def viewers_process(conn: Any, spec: Spec) -> None:
    """Entry point of a viewer process (multiprocessing, spawn): raise the file limit, then obey the parent."""
    limits = raise_nofile()
    conn.send(("limits", limits))
    uvloop.run(_serve(conn, spec))
    conn.close()
