"""One `httpx.AsyncClient` per service, calling its public API with the signed-in user's bearer token.

The current trace context (`traceparent`, `baggage`) rides along, so a page's request and the API calls it makes are
one trace. An answer outside 2xx becomes `ApiRefused`, carrying what the API said (status, `detail`, `field`, `code`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from opentelemetry import propagate

from services.web.settings import WebSettings

SERVICES = ("live", "shop", "orders", "aftersales", "local_life")
PROBLEM_TYPE_PREFIX = "https://liveloop.dev/problems/"


class ApiRefused(Exception):
    """A service answered with a refusal (problem+json) or an error; `unreachable` when it did not answer at all."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        field: str | None = None,
        code: str = "",
        service: str = "",
        unreachable: bool = False,
    ) -> None:
        super().__init__(f"{service}: {status} {code} {detail}")
        self.status = status
        self.detail = detail
        self.field = field
        self.code = code
        self.service = service
        self.unreachable = unreachable


class Apis:
    """The services' API clients of one web process: opened at start-up, closed at shut-down."""

    def __init__(self, settings: WebSettings, transports: Mapping[str, httpx.AsyncBaseTransport] | None = None) -> None:
        self.settings = settings
        self._transports = dict(transports or {})
        self._clients: dict[str, httpx.AsyncClient] = {}

    def base_url(self, service: str) -> str:
        return str(getattr(self.settings, f"{service}_url"))

    async def open(self) -> None:
        for service in SERVICES:
            self._clients[service] = httpx.AsyncClient(
                base_url=self.base_url(service),
                timeout=self.settings.api_timeout_s,
                transport=self._transports.get(service),
                headers={"Accept": "application/json"},
            )

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        key: str | None = None,
    ) -> Any:
        """The API's JSON answer (None for 204), or `ApiRefused`; `key` is sent as the `Idempotency-Key`."""
        # No token (an anonymous viewer of a public page): no Authorization header, as a visitor's browser would.
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if key:
            headers["Idempotency-Key"] = key
        propagate.inject(headers)
        try:
            response = await self._clients[service].request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiRefused(
                503, f"{service} did not answer ({type(exc).__name__})", service=service, unreachable=True
            ) from exc
        if response.is_success:
            return None if response.status_code == 204 or not response.content else response.json()
        raise refusal_of(service, response)


def refusal_of(service: str, response: httpx.Response) -> ApiRefused:
    """What a service's answer outside 2xx said (its problem+json's detail, field and code), as `ApiRefused`."""
    body: Any = None
    if response.headers.get("content-type", "").startswith(("application/problem+json", "application/json")):
        try:
            body = response.json()
        except ValueError:
            body = None
    if not isinstance(body, dict):
        return ApiRefused(response.status_code, response.reason_phrase or "error", service=service)
    code = str(body.get("type", "")).removeprefix(PROBLEM_TYPE_PREFIX)
    field = body.get("field")
    return ApiRefused(
        response.status_code,
        str(body.get("detail") or body.get("title") or response.reason_phrase),
        field=field if isinstance(field, str) else None,
        code=code,
        service=service,
    )
