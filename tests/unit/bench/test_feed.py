"""The feed benchmark's pure parts: reading an SSE response off the wire, and the figures and verdict of a run."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from bench import feed_profile
from bench.feed_report import (
    FeedRun,
    Memory,
    Purchase,
    failures,
    rate,
    render,
    spread,
    summarize,
    wall_to_monotonic_ns,
)
from bench.feed_sale import clock_offset_ns, wall_ns
from bench.feed_sse import ResponseError, SseEvent, SseParser, SseResponse
from bench.feed_viewers import Fleet, Spec, ViewerRecord, join

MS = 1_000_000
S = 1_000_000_000

HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


STATE = b'id: 7\r\nevent: state\r\nretry: 2000\r\ndata: {"seq": 7}\r\n\r\n'
STOCK = b'id: 8\r\nevent: sale.stock\r\ndata: {"sale_id": "s1", "remaining": 3}\r\n\r\n'
SOLD_OUT = b'id: 9\r\nevent: sale.sold_out\r\ndata: {"sale_id": "s1", "room_id": "r1", "seq": 9}\r\n\r\n'


# --- SSE framing -------------------------------------------------------------------------------------------------


def test_events_come_out_with_type_data_and_id_as_litestar_writes_them() -> None:
    parser = SseParser()
    assert parser.feed(STATE + STOCK) == [
        SseEvent("state", '{"seq": 7}', "7"),
        SseEvent("sale.stock", '{"sale_id": "s1", "remaining": 3}', "8"),
    ]


def test_an_event_split_anywhere_across_reads_comes_out_once_whole() -> None:
    stream = STATE + SOLD_OUT
    for cut in range(1, len(stream)):
        parser = SseParser()
        events = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert [e.event for e in events] == ["state", "sale.sold_out"], cut
        assert events[1].id == "9"


def test_a_crlf_split_between_reads_is_one_line_end_not_two() -> None:
    parser = SseParser()
    assert parser.feed(b"event: a\r\ndata: x\r") == []
    assert parser.feed(b"\n") == []  # CR + LF is one line end: the block is not over yet
    assert parser.feed(b"\r\n") == [SseEvent("a", "x", None)]


def test_lf_and_lone_cr_end_lines_too() -> None:
    parser = SseParser()
    assert parser.feed(b"event: a\ndata: x\n\nevent: b\rdata: y\r\r") == [SseEvent("a", "x", None)]
    # The last CR could still be the start of a CRLF: the block ends once the next byte shows it is not.
    assert parser.feed(b":") == [SseEvent("b", "y", None)]


def test_data_lines_join_with_newlines_and_a_block_without_type_is_a_message() -> None:
    assert SseParser().feed(b"data: one\ndata:two\ndata:  three\n\n") == [SseEvent("message", "one\ntwo\n three", None)]


def test_comments_and_blocks_without_data_dispatch_nothing_but_an_id_sticks() -> None:
    parser = SseParser()
    assert parser.feed(b": keep-alive\r\n\r\n") == []
    assert parser.feed(b"id: 41\nevent: nothing\n\n") == []
    assert parser.feed(b"data: later\n\n") == [SseEvent("message", "later", "41")]


def test_utf8_split_across_reads_decodes_once_the_block_is_whole() -> None:
    encoded = 'data: {"title": "亚麻衬衫"}\n\n'.encode()
    parser = SseParser()
    cut = encoded.index("亚".encode()) + 1
    assert parser.feed(encoded[:cut]) == []
    assert parser.feed(encoded[cut:]) == [SseEvent("message", '{"title": "亚麻衬衫"}', None)]


# --- the HTTP response around it ---------------------------------------------------------------------------------


def test_a_chunked_response_yields_its_events_however_the_bytes_arrive() -> None:
    wire = HEAD + chunk(STATE) + chunk(STOCK[:20]) + chunk(STOCK[20:] + SOLD_OUT) + chunk(b": keep-alive\r\n\r\n")
    for size in (1, 2, 3, 7, 64, len(wire)):
        response = SseResponse()
        events = []
        for at in range(0, len(wire), size):
            events += response.feed(wire[at : at + size])
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert [e.event for e in events] == ["state", "sale.stock", "sale.sold_out"], size
        assert not response.ended


def test_the_last_chunk_ends_the_body_and_chunk_extensions_are_ignored() -> None:
    response = SseResponse()
    body = b"%x;name=value\r\n%s\r\n" % (len(STATE), STATE)
    assert [e.event for e in response.feed(HEAD + body + b"0\r\n\r\n")] == ["state"]
    assert response.ended
    assert response.feed(chunk(STOCK)) == []


def test_an_error_answer_shows_its_status_and_reads_to_its_length() -> None:
    response = SseResponse()
    body = b'{"status": 404}'
    wire = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/problem+json\r\ncontent-length: %d\r\n\r\n" % len(body)
    assert response.feed(wire + body) == []
    assert response.status == 404
    assert response.ended


def test_a_body_without_length_or_chunks_reads_until_the_connection_closes() -> None:
    response = SseResponse()
    assert response.feed(b"HTTP/1.0 200 OK\r\ncontent-type: text/event-stream\r\n\r\n" + STATE) == [
        SseEvent("state", '{"seq": 7}', "7")
    ]


@pytest.mark.parametrize(
    "wire",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        HEAD + b"zz\r\n",
        HEAD + chunk(STATE)[:-2] + b"XX",
    ],
    ids=["not-http", "bad-chunk-size", "chunk-without-crlf"],
)
def test_what_is_not_a_chunked_http_response_is_refused(wire: bytes) -> None:
    with pytest.raises(ResponseError):
        SseResponse().feed(wire)


# --- the figures ----------------------------------------------------------------------------------------------


def viewer(index: int, started_ms: float, state_ms: float, sold_out_ms: float = 0, changes: int = 3) -> ViewerRecord:
    return ViewerRecord(
        index=index,
        started_ns=int(started_ms * MS),
        state_ns=int(state_ms * MS),
        first_change_ns=int(1000 * MS) if changes else 0,
        sold_out_ns=int(sold_out_ms * MS),
        changes=changes,
        bytes_in=1000,
    )


def purchases(*spans: tuple[int, float, float], problem: str = "") -> list[Purchase]:
    return [
        Purchase(status, int(a * MS), int(b * MS), "sold-out" if status == 409 else problem) for status, a, b in spans
    ]


def clean_run(**overrides: object) -> FeedRun:
    # 4 viewers start joining 100 ms apart from 100 ms on, each has its state 50 ms later (the last 300 ms later);
    # the sale's commit at 1,500 ms; they hear of it 10, 20, 30, 40 ms after it.
    fields: dict = dict(
        viewers=4,
        records=[viewer(i, 100 + i * 100, 150 + i * 100 + (i == 3) * 250, 1510 + 10 * i) for i in range(4)],
        purchases=purchases((201, 900, 950), (201, 900, 1502), (409, 1503, 1560)),
        stock=2,
        sold_out_ns=1500 * MS,
        relay_ns=1505 * MS,
        memory=Memory(before=100 * 2**20, joined=100 * 2**20 + 4 * 40 * 1024, after=100 * 2**20 + 40 * 1024),
    )
    fields.update(overrides)
    return FeedRun(**fields)


def test_spread_is_nearest_rank_percentiles_and_the_extremes_in_ms() -> None:
    result = spread([i * MS for i in range(1, 101)])
    assert (result.count, result.first_ms, result.p50_ms, result.p99_ms, result.last_ms) == (100, 1, 50, 99, 100)
    assert spread([]).p99_ms is None


def test_rate_is_per_second_over_the_window_and_none_without_one() -> None:
    assert rate(500, 0, S // 2) == pytest.approx(1000)
    assert rate(5, S, S) is None
    assert rate(5, None, S) is None


def test_a_clean_run_joins_delivers_and_passes() -> None:
    result = summarize(clean_run())
    assert (result.connected, result.failed, result.missed) == (4, 0, 0)
    assert failures(result) == []
    # First attempt at 100 ms, the last first event at 700 ms (viewer 3 took 300 ms): 4 viewers in 0.6 s.
    assert result.join_s == pytest.approx(0.6)
    assert result.joins_per_s == pytest.approx(4 / 0.6)
    assert (result.first_event.p50_ms, result.first_event.last_ms) == (50, 300)
    # The last viewer heard 40 ms after the commit; the last 201 reached its buyer at 1,502 ms.
    assert (result.from_commit.first_ms, result.from_commit.p50_ms, result.from_commit.last_ms) == (10, 20, 40)
    assert result.from_last_201.last_ms == pytest.approx(38)
    assert result.relay_ms == pytest.approx(5)
    assert result.sold_out_after_s == pytest.approx(0.6)  # first purchase sent at 900 ms
    # 12 deliveries from the first change seen (1,000 ms) to the last sold-out seen (1,540 ms).
    assert result.deliveries == 12
    assert result.events_per_s == pytest.approx(12 / 0.54)
    assert result.admitted == 2


def test_memory_per_viewer_and_what_came_back() -> None:
    memory = clean_run().memory
    assert memory is not None
    assert memory.per_viewer_kb(4) == pytest.approx(40)
    assert memory.returned == pytest.approx(0.75)
    assert Memory(before=10, joined=10).returned is None  # nothing taken: nothing to give back
    assert Memory(before=10, joined=20, after=25).returned == pytest.approx(-0.5)  # grew after they left


def test_a_viewer_that_missed_the_sold_out_event_fails_the_run() -> None:
    records = [viewer(0, 0, 50, 1510), viewer(1, 0, 60, 0)]
    result = summarize(clean_run(viewers=2, records=records))
    assert result.missed == 1
    assert failures(result) == ["2 viewers: 1 missed the sold-out event"]


def test_failed_connections_are_counted_by_reason_and_fail_the_run() -> None:
    refused = ViewerRecord(index=2, started_ns=1, error="connect: [Errno 111] Connection refused")
    closed = ViewerRecord(index=3, started_ns=1, state_ns=2, error="closed by the server")
    records = [viewer(0, 0, 50, 1510), viewer(1, 0, 60, 1520), refused, closed]
    result = summarize(clean_run(records=records))
    assert (result.connected, result.failed, result.missed) == (3, 2, 2)
    assert result.errors == {"connect": 1, "closed by the server": 1}
    assert failures(result)[0] == "4 viewers: 2 failed (1 connect, 1 closed by the server)"


def test_viewers_never_started_count_as_failed() -> None:
    result = summarize(clean_run(viewers=6))  # two of six viewers have no record (a viewer process died)
    assert result.failed == 2
    assert result.missed == 2


def test_a_sale_not_wholly_admitted_fails_the_run() -> None:
    result = summarize(clean_run(purchases=purchases((201, 900, 950), (409, 951, 960))))
    assert "4 viewers: 1 admitted of 2 units" in failures(result)


def test_without_the_commit_time_latency_is_left_out_not_made_up() -> None:
    result = summarize(clean_run(sold_out_ns=None, relay_ns=None))
    assert result.from_commit.count == 0
    assert result.relay_ms is None
    assert result.from_last_201.count == 4


def test_the_table_has_a_column_per_size_and_dashes_for_what_was_not_measured() -> None:
    small = summarize(clean_run())
    cores = {"join": {"live": 0.9, "viewers": 0.1, "machine": 1.5}}
    big = summarize(clean_run(memory=None, cores=cores, live_cpu_s={"join": 0.004, "sale": 0.0024}))
    text = render([small, big], {"S": 2, "buyers": 1})
    assert text.startswith("Feed fan-out benchmark  S=2  buyers=1")
    lines = {line.split("  ")[1].strip(): line for line in text.splitlines() if line.startswith("  ") and line.strip()}
    assert lines["KB per viewer"].split()[-2:] == ["40.0", "-"]
    assert lines["returned to the OS"].split()[-2:] == ["75%", "-"]
    assert lines["live CPU per join (ms)"].split()[-2:] == ["-", "1.00"]
    assert lines["live CPU per delivery, buying incl. (us)"].split()[-1] == "200.0"
    assert lines["sold_out commit -> last viewer (ms)"].split()[-2:] == ["40.0", "40.0"]
    assert lines["cores, joining: other"].split()[-2:] == ["-", "0.50"]


def test_wall_clock_times_land_on_the_monotonic_scale_to_the_microsecond() -> None:
    at = datetime(2026, 12, 5, 10, 0, 0, 123456, tzinfo=UTC)
    wall = wall_ns(at)
    assert wall == int(datetime(2026, 12, 5, 10, 0, 0, tzinfo=UTC).timestamp()) * S + 123456 * 1000
    assert wall_to_monotonic_ns(wall, offset_ns=wall - 5 * S) == 5 * S
    offset = clock_offset_ns()
    assert abs(time.time_ns() - offset - time.monotonic_ns()) < 50 * MS


# --- the viewers, against a loopback feed ---------------------------------------------------------------------


class _Feed:
    """A loopback room feed: `state` to each viewer as it connects; 404 for room "gone"; `broadcast` to everyone."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        if b" /rooms/gone/feed " in head:
            writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}")
            await writer.drain()
            writer.close()
            return
        writer.write(HEAD + chunk(STATE))
        self.writers.append(writer)

    def broadcast(self, payload: bytes) -> None:
        for writer in self.writers:
            writer.write(chunk(payload))

    async def stop(self) -> None:
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()


async def test_viewers_join_a_few_at_a_time_and_each_records_the_sold_out_event() -> None:
    feed = _Feed()
    port = await feed.start()
    fleet = Fleet(Spec("127.0.0.1", port, "r1", "s1", count=20, in_flight=5, join_timeout_s=10, first=100))
    try:
        await join(fleet)
        assert len(feed.writers) == 20
        assert [r.index for r in fleet.records] == list(range(100, 120))
        assert all(r.started_ns < r.state_ns and not r.error for r in fleet.records)
        feed.broadcast(STOCK)
        feed.broadcast(b'event: sale.sold_out\r\ndata: {"sale_id": "another"}\r\n\r\n')  # not this sale
        feed.broadcast(SOLD_OUT)
        await asyncio.wait_for(fleet.done.wait(), 10)
    finally:
        fleet.closing = True
        for transport in fleet.transports:
            transport.close()
        await feed.stop()
    assert all(r.state_ns < r.first_change_ns <= r.sold_out_ns for r in fleet.records)  # one read may bring all
    assert {r.changes for r in fleet.records} == {3}
    assert fleet.sold_out == 20
    assert not any(r.error for r in fleet.records)  # closing on purpose is not a failure


async def test_a_refused_or_dropped_viewer_is_recorded_as_failed() -> None:
    feed = _Feed()
    port = await feed.start()
    gone = Fleet(Spec("127.0.0.1", port, "gone", "s1", count=2, in_flight=2, join_timeout_s=10))
    dropped = Fleet(Spec("127.0.0.1", port, "r1", "s1", count=2, in_flight=2, join_timeout_s=10))
    try:
        await join(gone)
        await join(dropped)
        feed.writers[0].close()  # the server lets one go before the sale sells out
        feed.broadcast(SOLD_OUT)
        await asyncio.wait_for(dropped.done.wait(), 10)
    finally:
        await feed.stop()
    assert [r.error for r in gone.records] == ["HTTP 404", "HTTP 404"]
    assert gone.done.is_set()
    errors = sorted(r.error for r in dropped.records)
    assert errors == ["", "closed by the server"]
    assert (dropped.sold_out, dropped.failed) == (1, 1)


# --- where live's CPU went ------------------------------------------------------------------------------------


def test_profile_samples_go_to_the_first_matching_bucket_and_waiting_threads_are_left_out() -> None:
    lines = [
        "process 1;main (libs/cli.py:95);_wait (asyncio/tasks.py:531);gc_collect_main (libpython3.11.so.1.0) 30",
        "process 1;main (libs/cli.py:95);FeedHub._flush (services/live/rooms/adapters/feed_hub.py:551) 20",
        "process 1;RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:544);write (libc.so.6) 15",
        "process 1;RequestIds.__call__.<locals>.send_with_id (libs/web/request_ids.py:67);"
        "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:544) 10",
        "process 1;main (libs/cli.py:95);Runner.run (asyncio/runners.py:118) 25",
        "process 1;Connection.fetchrow (asyncpg/connection.py:1);UVStream_write (loop.c);write (libc.so.6) 5",
        "process 1;Connection.fetchrow (asyncpg/connection.py:1);Codec_encode (protocol.c) 4",
        "thread 2;_worker (concurrent/futures/thread.py:81);_queue_SimpleQueue_get_impl (_queuemodule.c:253);"
        "PyThread_acquire_lock_timed (libpython3.11.so.1.0);0x7f7b6b2aed90 (libc.so.6) 500",
        "a line cut short",
    ]
    busy, shares = feed_profile.buckets(lines)
    assert busy == 109
    assert shares == [
        ("garbage collector (gc_collect_main)", 30),
        ("socket writes to Postgres (asyncpg queries)", 5),
        ("socket writes to viewers (uvloop UVStream write)", 15),
        ("hub fan-out: FeedClient.deliver, ASGI send chain", 20),
        ("ASGI send chain (3 middleware wrappers, uvicorn)", 10),
        ("asyncpg (other)", 4),
        (feed_profile.OTHER, 25),
    ]
    text = feed_profile.render(lines, 200.0, "delivery")
    assert text.splitlines()[0] == "  109 busy samples; live CPU 200.0 us per delivery"
    assert "garbage collector (gc_collect_main)" in text.splitlines()[1]
    assert text.splitlines()[1].endswith(" 55.0 us")  # 30 of 109 busy samples
    assert feed_profile.render([], None, "join") == "  (no busy samples)"
