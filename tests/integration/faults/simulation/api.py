"""HTTP, as an app sends it: one client per service and token, and a request answered 5xx sent again with the same
Idempotency-Key until it answers or RETRY_S pass."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from tests.harness import Stack
from tests.integration.faults.simulation.config import RETRY_S
from tests.integration.faults.simulation.model import Report, SimulationFailed


@dataclass
class Answer:
    status: int
    body: Any
    retried: int  # 5xx answers (or broken connections) before this one

    @property
    def code(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("type"), str):
            return self.body["type"].rsplit("/", 1)[-1]
        return ""

    def short(self) -> str:
        return (
            f"{self.status}{' ' + self.code if self.code else ''}{f' after {self.retried}x5xx' if self.retried else ''}"
        )


class Api:
    """The run's requests to the stack's services; counts the 5xx answers it sent again into the report."""

    def __init__(self, stack: Stack, report: Report) -> None:
        self.stack = stack
        self.report = report
        self._clients: dict[tuple[str, str | None], httpx.AsyncClient] = {}

    def client(self, service: str, token: str | None = None) -> httpx.AsyncClient:
        key = (service, token)
        if key not in self._clients:
            self._clients[key] = self.stack.client(service, token)
        return self._clients[key]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()), return_exceptions=True)

    async def call(
        self, client: httpx.AsyncClient, method: str, url: str, *, key: bool = False, **kwargs: Any
    ) -> Answer:
        """One request, sent again (same Idempotency-Key) while it answers 5xx: an app's retry."""
        headers = kwargs.pop("headers", {}) | ({"Idempotency-Key": str(uuid.uuid4())} if key else {})
        deadline = time.monotonic() + RETRY_S
        retried = 0
        while True:
            try:
                response = await client.request(method, url, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code < 500:
                    try:
                        body = response.json() if response.content else None
                    except ValueError:
                        body = response.text
                    self.report.retried_5xx += retried
                    return Answer(response.status_code, body, retried)
                last = f"{response.status_code} {response.text[:300]}"
            retried += 1
            if time.monotonic() > deadline:
                raise SimulationFailed(f"{method} {url} still failing after {RETRY_S:.0f}s: {last}")
            await asyncio.sleep(0.2)

    async def read(self, client: httpx.AsyncClient, url: str, **params: Any) -> Any:
        answer = await self.call(client, "GET", url, params=params or None)
        if answer.status != 200:
            raise SimulationFailed(f"GET {url}: {answer.status} {answer.body}")
        return answer.body

    async def pages(self, client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            body = await self.read(client, url, limit=100, **({"cursor": cursor} if cursor else {}))
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return items

    def expect(self, what: str, answer: Answer, *allowed: int) -> None:
        if answer.status not in allowed:
            raise SimulationFailed(f"{what}: answered {answer.status} {answer.body} (expected {allowed})")
