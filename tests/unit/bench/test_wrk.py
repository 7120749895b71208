"""The wrk driver sends each buyer exactly once, stops by count, and pairs every response with its start.

Not pure like the other unit tests: it runs the real wrk against a tiny loopback server, because
the Lua script's bookkeeping is only meaningful inside wrk. Skipped where wrk is not installed.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import uuid
from collections.abc import Iterator

import pytest

from bench.wrk import LoadSpec, run

WRK = shutil.which("wrk")
pytestmark = pytest.mark.skipif(WRK is None, reason="wrk is not installed (apt-get install wrk)")


class _Server:
    """HTTP/1.1 keep-alive server: 201 with an order id for even request ids, 409 for odd ones, 503 for #7."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                lines = head.split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.seen.append({**headers, "path": lines[0].split(" ")[1], "body": body.decode()})
                rid = headers.get("x-request-id", "")
                number = int(rid.rsplit("-", 1)[1])
                if number == 7:
                    status, payload = b"503 Service Unavailable", b'{"type":"try-again",\n"status":503}'
                elif number % 2:
                    status, payload = b"409 Conflict", b'{"type":"sold-out"}'
                else:
                    status, payload = b"201 Created", f'{{"order_id": "{uuid.uuid4()}"}}'.encode()
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\nx-request-id: %s\r\n\r\n" % (len(payload), rid.encode()) + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def __enter__(self) -> _Server:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as running:
        yield running


def test_each_buyer_is_sent_once_and_every_response_is_timed(server: _Server, tmp_path) -> None:
    tokens = [f"token-{i}" for i in range(301)]  # odd count: the two threads get unequal shares
    spec = LoadSpec(concurrency=64, threads=2, max_seconds=60)

    result = run(WRK, f"http://127.0.0.1:{server.port}/buy", tokens, spec, run_id="t1", work_dir=tmp_path)

    assert result.finished  # stopped by count, not by the time bound
    assert sorted(h["authorization"] for h in server.seen) == sorted(f"Bearer {t}" for t in tokens)
    assert {h["idempotency-key"] for h in server.seen} == {f"t1-{i}" for i in range(301)}
    assert all(h["x-request-id"] == h["idempotency-key"] for h in server.seen)
    assert {h["path"] for h in server.seen} == {"/buy"}
    assert {h["body"] for h in server.seen} == {'{"quantity":1}'}
    assert len(result.records) == 301
    assert sorted(r.request_id for r in result.records) == sorted(f"t1-{i}" for i in range(301))
    assert all(r.start_ns is not None and r.end_ns >= r.start_ns for r in result.records)
    admitted = [r for r in result.records if r.status == 201]
    assert len(admitted) == 151
    assert all(len(r.order_id) == 36 for r in admitted)
    (failed,) = [r for r in result.records if r.status == 503]
    assert failed.request_id == "t1-7"
    assert failed.detail == '{"type":"try-again", "status":503}'  # kept on one line
    assert not list(tmp_path.glob("*/tokens"))  # bearer tokens are not left on disk


def test_threads_split_the_load_evenly_over_several_instances(tmp_path) -> None:
    tokens = [f"token-{i}" for i in range(301)]
    spec = LoadSpec(concurrency=64, threads=2, max_seconds=60)
    with _Server() as first, _Server() as second:
        addresses = [f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"]

        result = run(
            WRK, f"http://127.0.0.1:{first.port}/buy", tokens, spec, run_id="t2", work_dir=tmp_path, addresses=addresses
        )

        assert result.finished
        assert len(result.records) == 301
        # Thread k takes buyers k, k+2, ... and talks to instance k.
        assert {h["idempotency-key"] for h in first.seen} == {f"t2-{i}" for i in range(0, 301, 2)}
        assert {h["idempotency-key"] for h in second.seen} == {f"t2-{i}" for i in range(1, 301, 2)}
