"""The access log: one line per request (method, path, status, ms, request id), none for the probes."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from litestar import get, post
from litestar.types import ASGIApp, Receive, Scope, Send

from libs.cli import log_format
from libs.web import requires
from tests.harness import Infra, ServedApp, eventually
from tests.integration.libs.support import served_routes


class AnswersItself:
    """A route middleware that answers without the handler, as the flash-sale purchase middleware does."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


@get("/hello", sync_to_thread=False)
def hello() -> dict[str, str]:
    return {"hello": "world"}


@get("/mine", guards=[requires("merchant")], sync_to_thread=False)
def mine() -> dict[str, str]:
    return {}


@post("/fast", middleware=[AnswersItself], sync_to_thread=False)
def fast() -> None:
    raise AssertionError("the route middleware answers")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServedApp]:
    migrations = Path(tmp_path_factory.mktemp("access_log_migrations"))
    async with served_routes(infra, "accesslog", [hello, mine, fast], migrations) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="session")
async def http(app: ServedApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.url, timeout=15) as client:
        yield client


def access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The access records as `liveloop serve` prints them."""
    formatter = logging.Formatter(log_format("accesslog"))
    return [formatter.format(r) for r in caplog.records if r.name == "liveloop.access"]


async def test_a_request_is_logged_once_with_method_path_status_ms_and_request_id(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liveloop.access")
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    response = await http.get("/hello", headers={"X-Request-ID": request_id})
    assert response.status_code == 200

    lines = await eventually(lambda: [line for line in access_lines(caplog) if request_id in line])
    assert len(lines) == 1
    # The line names its trace too, so a slow request's line leads to its spans.
    pattern = rf"INFO \[{request_id} trace=[0-9a-f]{{32}}\] liveloop.access: GET /hello 200 \d+\.\d ms$"
    assert re.search(pattern, lines[0]), lines[0]


async def test_an_answer_from_a_route_middleware_is_logged_with_its_status(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liveloop.access")
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    assert (await http.post("/fast", json={}, headers={"X-Request-ID": request_id})).status_code == 201
    lines = await eventually(lambda: [line for line in access_lines(caplog) if request_id in line])
    assert re.search(r"POST /fast 201 \d+\.\d ms$", lines[0]), lines


async def test_a_refused_request_is_logged_with_the_status_the_client_got(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liveloop.access")
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    assert (await http.get("/mine", headers={"X-Request-ID": request_id})).status_code == 401
    lines = await eventually(lambda: [line for line in access_lines(caplog) if request_id in line])
    assert re.search(r"GET /mine 401 \d+\.\d ms$", lines[0]), lines


async def test_probes_are_not_logged(http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="liveloop.access")
    for path in ("/health", "/ready", "/metrics"):
        await http.get(path)
    await http.get("/hello")  # logged after the probes: once it is there, theirs would be too
    lines = await eventually(lambda: access_lines(caplog))
    assert [line.split("liveloop.access: ")[1].split(" ")[:2] for line in lines] == [["GET", "/hello"]]


@pytest.mark.parametrize(("method", "path", "status"), [("GET", "/no-such-page", 404), ("DELETE", "/hello", 405)])
async def test_a_request_the_router_refuses_is_logged_and_answered_with_its_request_id(
    http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, method: str, path: str, status: int
) -> None:
    caplog.set_level(logging.INFO, logger="liveloop.access")
    request_id = f"req-{uuid.uuid4().hex[:8]}"
    response = await http.request(method, path, headers={"X-Request-ID": request_id})
    assert (response.status_code, response.headers["x-request-id"]) == (status, request_id)
    assert response.headers["content-type"].startswith("application/problem+json")
    lines = await eventually(lambda: [line for line in access_lines(caplog) if request_id in line])
    assert re.search(rf"{method} {path} {status} \d+\.\d ms$", lines[0]), lines
