"""Web plumbing every service shares, on a tiny service built here: health, problems, auth, request ids, idempotency."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import asyncpg
import httpx
import msgspec
import pytest
import pytest_asyncio
from litestar import Request, Response, get, post

from devstack.embedded import free_port
from libs.auth import mint_token
from libs.db import write_once
from libs.errors import Conflict
from libs.ids import derived_id
from libs.runtime import Runtime
from libs.settings import Settings
from libs.telemetry import Telemetry
from libs.web import Problem, idempotency_key, principal_of, requires
from libs.web.app import ServiceSpec, build_app
from tests.harness import Infra, ServedApp, assert_problem
from tests.integration.libs.support import served_routes


class ThingIn(msgspec.Struct, kw_only=True):
    name: str
    quantity: Annotated[int, msgspec.Meta(gt=0)]


class NoteIn(msgspec.Struct, kw_only=True):
    text: str


@post("/things", guards=[requires("merchant")])
async def create_thing(data: ThingIn, request: Request) -> dict[str, object]:
    """A merchant-only write with a constrained body."""
    return {"name": data.name, "quantity": data.quantity, "merchant_id": principal_of(request).merchant_id}


class OutOfThings(Conflict):
    code = "out-of-things"


@get("/refused")
async def refused() -> None:
    """A rule's refusal, raised as a DomainError by code that never imports the web."""
    raise OutOfThings("no things are left", field="quantity", available=0)


@get("/conflict")
async def conflict() -> None:
    """Always a domain error naming a field."""
    raise Problem(409, "x", "that clashes with something", field="y")


@post("/notes", guards=[requires("buyer")])
async def add_note(data: NoteIn, request: Request, runtime: Runtime) -> Response[object]:
    """An idempotent write whose id derives from the key, as services name orders and checkouts."""
    principal = principal_of(request)
    key = idempotency_key(request)
    note_id = derived_id(principal.sub, "notes", key or "")

    async def effect(conn: asyncpg.Connection) -> object:
        await conn.execute("INSERT INTO effect_log (owner, text) VALUES ($1, $2)", principal.sub, data.text)
        await conn.execute("INSERT INTO notes (id, owner, text) VALUES ($1, $2, $3)", note_id, principal.sub, data.text)
        await asyncio.sleep(0.05)  # a slow effect: twins overlap
        return {"id": note_id, "text": data.text, "answer": uuid.uuid4().hex}

    body = await write_once(runtime.db, caller=principal, scope="notes", key=key, request=data, effect=effect)
    return Response(body, status_code=201)


@get("/near")
async def near(lat: float, lng: float) -> dict[str, float]:
    """A read with required query parameters."""
    return {"lat": lat, "lng": lng}


MIGRATION = """
CREATE TABLE notes (id uuid PRIMARY KEY, owner text NOT NULL, text text NOT NULL);
-- One row per effect that committed, with no constraint that could hide a second one.
CREATE TABLE effect_log (owner text NOT NULL, text text NOT NULL);
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def app(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServedApp]:
    migrations = tmp_path_factory.mktemp("plumbing_migrations")
    (migrations / "0001_init.sql").write_text(MIGRATION)
    routes = [create_thing, conflict, refused, add_note, near]
    async with served_routes(infra, "plumbing", routes, Path(migrations)) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="session")
async def http(app: ServedApp) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=app.url, timeout=15) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def merchant(infra: Infra) -> dict[str, str]:
    return bearer(infra.token("merchant", merchant_id=str(uuid.uuid4())))


async def test_health_and_ready_answer_when_database_and_nats_are_up(http: httpx.AsyncClient) -> None:
    health = await http.get("/health")
    ready = await http.get("/ready")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready", "database": "up", "nats": "up"})


async def test_valid_request_passes_guard_and_validation(http: httpx.AsyncClient, infra: Infra) -> None:
    merchant_id = str(uuid.uuid4())
    token = infra.token("merchant", merchant_id=merchant_id)
    response = await http.post("/things", json={"name": "mug", "quantity": 2, "price_minor": 1}, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert response.json() == {"name": "mug", "quantity": 2, "merchant_id": merchant_id}


async def test_malformed_json_is_a_problem(http: httpx.AsyncClient, infra: Infra) -> None:
    response = await http.post(
        "/things",
        content=b'{"name": "mug", "quantity": ',
        headers=merchant(infra) | {"content-type": "application/json"},
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "mug", "quantity": "many"}, "quantity"),
        ({"name": "mug", "quantity": 0}, "quantity"),
        ({"name": 5, "quantity": 1}, "name"),
    ],
    ids=["wrong-type", "out-of-range", "wrong-type-name"],
)
async def test_invalid_field_is_a_400_naming_the_field(
    http: httpx.AsyncClient, infra: Infra, body: dict, field: str
) -> None:
    response = await http.post("/things", json=body, headers=merchant(infra))
    problem = assert_problem(response, 400, "validation-failed", field=field)
    assert field in problem["detail"]


async def test_missing_field_is_a_400_naming_the_field(http: httpx.AsyncClient, infra: Infra) -> None:
    response = await http.post("/things", json={"name": "mug"}, headers=merchant(infra))
    problem = assert_problem(response, 400, "validation-failed")
    assert "quantity" in problem["detail"]


async def test_a_missing_query_parameter_is_a_400_naming_it(http: httpx.AsyncClient) -> None:
    problem = assert_problem(await http.get("/near", params={"lat": "1.5"}), 400, "validation-failed")
    assert problem["field"] == "lng"
    assert (await http.get("/near", params={"lat": "1.5", "lng": "2"})).json() == {"lat": 1.5, "lng": 2.0}


async def test_unknown_route_is_a_404_problem(http: httpx.AsyncClient) -> None:
    assert_problem(await http.get("/no/such/thing"), 404, "not-found")


async def test_wrong_method_is_a_405_problem(http: httpx.AsyncClient) -> None:
    assert_problem(await http.delete("/conflict"), 405)


async def test_domain_problem_keeps_its_code_and_field(http: httpx.AsyncClient) -> None:
    body = assert_problem(await http.get("/conflict"), 409, "x", field="y")
    assert body["detail"] == "that clashes with something"


async def test_a_rules_refusal_answers_the_status_of_its_kind_with_its_code_field_and_members(
    http: httpx.AsyncClient,
) -> None:
    body = assert_problem(await http.get("/refused"), 409, "out-of-things", field="quantity")
    assert (body["detail"], body["available"]) == ("no things are left", 0)


async def test_no_token_is_401_with_www_authenticate(http: httpx.AsyncClient) -> None:
    response = await http.post("/things", content=b"{not even json", headers={"content-type": "application/json"})
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_expired_token_is_401_saying_expired(http: httpx.AsyncClient, infra: Infra) -> None:
    token = mint_token(sub="m", role="merchant", merchant_id="m-1", secret=infra.jwt_secret, ttl_s=-30)
    response = await http.post("/things", json={"name": "mug", "quantity": 1}, headers=bearer(token))
    body = assert_problem(response, 401, "unauthorized")
    assert "expired" in body["detail"]


@pytest.mark.parametrize(
    "overrides",
    [{"issuer": "someone-else"}, {"audience": "someone-else"}, {"secret": "x" * 40}],
    ids=["issuer", "audience", "signature"],
)
async def test_token_not_ours_is_401(http: httpx.AsyncClient, infra: Infra, overrides: dict[str, str]) -> None:
    claims: dict = {"sub": "m", "role": "merchant", "merchant_id": "m-1", "secret": infra.jwt_secret} | overrides
    response = await http.post("/things", json={"name": "mug", "quantity": 1}, headers=bearer(mint_token(**claims)))
    body = assert_problem(response, 401, "unauthorized")
    assert "invalid token" in body["detail"]


async def test_non_bearer_authorization_is_401(http: httpx.AsyncClient) -> None:
    response = await http.post("/things", json={"name": "mug", "quantity": 1}, headers={"Authorization": "Basic Zm9v"})
    assert_problem(response, 401, "unauthorized")


async def test_wrong_role_is_403(http: httpx.AsyncClient, infra: Infra) -> None:
    response = await http.post("/things", json={"name": "mug", "quantity": 1}, headers=bearer(infra.token("buyer")))
    assert_problem(response, 403, "forbidden")


async def test_request_id_is_echoed_or_generated(http: httpx.AsyncClient) -> None:
    given = await http.get("/conflict", headers={"X-Request-ID": "req-abc.123"})
    fresh = await http.get("/health")
    insane = await http.get("/health", headers={"X-Request-ID": "has spaces\tand tabs"})
    assert given.headers["x-request-id"] == "req-abc.123"
    assert given.json()["request_id"] == "req-abc.123"
    assert re.fullmatch(r"[0-9a-f]{32}", fresh.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", insane.headers["x-request-id"])


async def test_openapi_document_is_3_1_and_lists_the_routes(http: httpx.AsyncClient) -> None:
    response = await http.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert {"/things", "/conflict", "/notes", "/health", "/ready"} <= set(document["paths"])


async def effect_count(app: ServedApp, owner: str) -> int:
    return await app.runtime.db.fetchval("SELECT count(*) FROM effect_log WHERE owner = $1", owner)


async def test_retry_with_same_key_and_body_gets_the_first_answer_and_one_effect(
    http: httpx.AsyncClient, app: ServedApp, infra: Infra
) -> None:
    sub = f"buyer-{uuid.uuid4().hex[:8]}"
    headers = bearer(infra.token("buyer", sub=sub)) | {"Idempotency-Key": "k-1"}
    first = await http.post("/notes", json={"text": "hello"}, headers=headers)
    again = await http.post("/notes", json={"text": "hello"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await effect_count(app, sub) == 1


async def test_same_key_with_a_different_body_is_422_and_changes_nothing(
    http: httpx.AsyncClient, app: ServedApp, infra: Infra
) -> None:
    sub = f"buyer-{uuid.uuid4().hex[:8]}"
    headers = bearer(infra.token("buyer", sub=sub)) | {"Idempotency-Key": "k-2"}
    assert (await http.post("/notes", json={"text": "hello"}, headers=headers)).status_code == 201
    response = await http.post("/notes", json={"text": "goodbye"}, headers=headers)
    assert_problem(response, 422, "idempotency-key-reused", field="Idempotency-Key")
    assert await effect_count(app, sub) == 1


async def test_same_key_from_another_caller_is_a_separate_request(
    http: httpx.AsyncClient, app: ServedApp, infra: Infra
) -> None:
    subs = [f"buyer-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    answers = [
        await http.post(
            "/notes", json={"text": "hi"}, headers=bearer(infra.token("buyer", sub=s)) | {"Idempotency-Key": "k"}
        )
        for s in subs
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["id"] != answers[1].json()["id"]
    assert [await effect_count(app, s) for s in subs] == [1, 1]


async def test_missing_idempotency_key_is_400_naming_the_header(http: httpx.AsyncClient, infra: Infra) -> None:
    response = await http.post("/notes", json={"text": "hi"}, headers=bearer(infra.token("buyer")))
    assert_problem(response, 400, "idempotency-key-required", field="Idempotency-Key")


async def test_concurrent_twins_with_one_key_make_one_effect_and_get_one_answer(
    http: httpx.AsyncClient, app: ServedApp, infra: Infra
) -> None:
    sub = f"buyer-{uuid.uuid4().hex[:8]}"
    headers = bearer(infra.token("buyer", sub=sub)) | {"Idempotency-Key": f"twin-{uuid.uuid4().hex[:6]}"}
    answers = await asyncio.gather(*(http.post("/notes", json={"text": "tap"}, headers=headers) for _ in range(10)))
    assert [a.status_code for a in answers] == [201] * 10, [a.text for a in answers if a.status_code != 201]
    assert len({a.text for a in answers}) == 1
    assert await effect_count(app, sub) == 1


@get("/boom")
async def boom() -> None:
    """An unexpected failure: the client gets a bare 500, the log gets the details and the request id."""
    raise RuntimeError("disk on fire")


async def test_unexpected_error_is_a_bare_500_and_its_log_names_the_request(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    served = await _tiny_app(infra, tmp_path_factory, [boom])
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
            response = await client.get("/boom", headers={"X-Request-ID": "req-boom-1"})
    finally:
        await served.stop()
    body = assert_problem(response, 500, "internal")
    assert "fire" not in response.text
    assert body["request_id"] == "req-boom-1"
    logged = [r for r in caplog.records if r.exc_info and "disk on fire" in str(r.exc_info[1])]
    assert [getattr(r, "request_id", None) for r in logged] == ["req-boom-1"]


@get("/db-down")
async def db_down() -> None:
    """A database that does not answer (nothing listens on port 1): what a request meets while Postgres restarts."""
    await asyncpg.connect("postgresql://postgres@127.0.0.1:1/postgres", timeout=2)


async def test_a_database_that_does_not_answer_is_a_503_to_retry_not_a_500(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory, caplog: pytest.LogCaptureFixture
) -> None:
    served = await _tiny_app(infra, tmp_path_factory, [db_down])
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
            response = await client.get("/db-down")
    finally:
        await served.stop()
    # Nothing was done, so a retry (with the same Idempotency-Key) is safe: 503, not a 500 that reads as a bug.
    body = assert_problem(response, 503, "unavailable")
    assert "database" in body["detail"]
    assert response.headers["Retry-After"] == "1"
    # One line in the log per request, not a traceback: an outage makes hundreds.
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    assert any("/db-down: unavailable" in r.getMessage() for r in caplog.records)


async def test_ready_answers_503_naming_what_is_down(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> None:
    served = await _tiny_app(infra, tmp_path_factory, [])
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
            assert (await client.get("/ready")).status_code == 200
            await served.runtime.bus.nc.close()
            down = await client.get("/ready")
            assert (await client.get("/health")).status_code == 200
    finally:
        await served.stop()
    body = assert_problem(down, 503, "not-ready")
    assert "nats down" in body["detail"]
    assert "database up" in body["detail"]


async def _tiny_app(infra: Infra, tmp_path_factory: pytest.TempPathFactory, routes: list) -> ServedApp:
    migrations = tmp_path_factory.mktemp("tiny_migrations")
    spec = ServiceSpec(
        name="tiny",
        schema=f"t_tiny_{uuid.uuid4().hex[:10]}",
        settings=Settings,
        migrations=Path(migrations),
        routes=routes,
    )
    served = ServedApp("tiny", build_app(spec, infra.settings("tiny"), telemetry=Telemetry("tiny")), free_port())
    await served.start()
    return served


async def test_text_the_database_cannot_store_is_a_400_and_changes_nothing(
    http: httpx.AsyncClient, app: ServedApp, infra: Infra
) -> None:
    sub = f"buyer-{uuid.uuid4().hex[:8]}"
    headers = bearer(infra.token("buyer", sub=sub)) | {"Idempotency-Key": "nul-1"}
    response = await http.post("/notes", json={"text": "hello\u0000world"}, headers=headers)
    assert_problem(response, 400, "invalid-characters")
    assert await effect_count(app, sub) == 0
