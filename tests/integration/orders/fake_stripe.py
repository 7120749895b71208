"""A stand-in in front of Stripe (localstripe): forwards every request, except that a refund's answer can be lost.

A tiny HTTP/1.1 proxy on 127.0.0.1 (raw asyncio, one request at a time per connection, bodies by Content-Length as
Stripe's client sends them). Modes for `POST /v1/refunds`:

- `pass`: forwarded and answered.
- `drop`: forwarded (localstripe makes the refund), then the connection is closed without an answer; later refunds
  pass.
- `hold`: forwarded, then the answer is held (the test is told through `held`) until `release()`, which closes the
  connection without answering: the caller is killed meanwhile.
- `fail`: answered 500 without forwarding (Stripe down for refunds: the grant stays pending).
- `refuse`: answered 400 `amount_too_large` without forwarding (Stripe says no).
- `pending`: forwarded, and answered as Stripe answers a refund it has not finished (`status: pending`); reading it
  back later shows localstripe's `succeeded`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Literal

import httpx

Mode = Literal["pass", "drop", "hold", "fail", "refuse", "pending"]


@dataclass
class FakeStripe:
    """The proxy's state: where it forwards, its mode, and what it saw."""

    upstream: str
    mode: Mode = "pass"
    url: str = ""
    # Refund creations forwarded to Stripe (their form bodies), and every refund creation asked for.
    forwarded_refunds: list[str] = field(default_factory=list)
    asked_refunds: int = 0
    held: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _client: httpx.AsyncClient | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        self.held.clear()
        self._release.clear()

    def reset(self) -> None:
        """Pass everything, and forget what was seen."""
        self.set_mode("pass")
        self.forwarded_refunds.clear()
        self.asked_refunds = 0

    def release(self) -> None:
        """Let a held refund's connection go (closed without an answer)."""
        self._release.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(base_url=self.upstream, timeout=10)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
        if self._client is not None:
            await self._client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers: dict[str, str] = {}
                for raw in lines[1:]:
                    if raw:
                        name, _, value = raw.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                answer = await self._answer(method, target, headers, body)
                if answer is None:
                    return  # the connection closes with no answer
                status, content_type, content = answer
                reason = HTTPStatus(status).phrase
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(content)}\r\nConnection: keep-alive\r\n\r\n".encode("latin-1")
                    + content
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes] | None:
        is_refund = method == "POST" and target.split("?", 1)[0] == "/v1/refunds"
        if is_refund:
            self.asked_refunds += 1
            if self.mode == "fail":
                return 500, "application/json", _error("api_error", None, "Stripe is having a bad day")
            if self.mode == "refuse":
                return 400, "application/json", _error("invalid_request_error", "amount_too_large", "too large")
        forward = {k: v for k, v in headers.items() if k in ("authorization", "content-type", "stripe-version")}
        assert self._client is not None
        upstream = await self._client.request(method, target, headers=forward, content=body)
        if is_refund:
            self.forwarded_refunds.append(body.decode())
            if self.mode == "drop":
                self.mode = "pass"
                return None
            if self.mode == "hold":
                self.held.set()
                await self._release.wait()
                return None
            if self.mode == "pending" and upstream.status_code == 200:
                return 200, "application/json", json.dumps({**upstream.json(), "status": "pending"}).encode()
        return upstream.status_code, upstream.headers.get("content-type", "application/json"), upstream.content


def _error(kind: str, code: str | None, message: str) -> bytes:
    return json.dumps({"error": {"type": kind, "code": code, "message": message}}).encode()


async def stripe_refunds(stripe_base: str, intent_id: str) -> list[dict[str, Any]]:
    """Every refund Stripe (localstripe, asked directly) holds for the PaymentIntent, all pages."""
    found: list[dict[str, Any]] = []
    params: dict[str, str] = {"payment_intent": intent_id, "limit": "100"}
    async with httpx.AsyncClient(base_url=stripe_base, auth=("sk_test_liveloop", ""), timeout=10) as api:
        while True:
            page = await api.get("/v1/refunds", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            found.extend(body["data"])
            if not body["has_more"] or not body["data"]:
                return found
            params["starting_after"] = body["data"][-1]["id"]


@asynccontextmanager
async def fake_stripe(upstream: str) -> AsyncIterator[FakeStripe]:
    """The proxy in front of `upstream`, served on loopback for the block."""
    proxy = FakeStripe(upstream)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()
