"""Every service's OpenAPI document tells the truth: schemathesis calls each operation as each role that may, and
every answer's status, content type, body and headers must be what the document says (and never a 5xx).

Each operation runs twice: with generated path ids (unknown things: 404s and input refusals), then with the ids of
things that exist (a merchant, its product and SKU, its live room), so the refusals of real state are reached too.
Bounded and derandomized: a handful of generated requests per operation and caller, the same ones every run.
Schemathesis makes blocking HTTP calls, so it runs in a worker thread while the services serve on the test loop.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.harness import Infra, Stack, assert_problem, onboard_merchant

SERVICES = ("shop", "orders", "live", "aftersales", "local_life")
# schemathesis' own strategies draw from `random`; nothing of ours to change.
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning")

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Generated requests per operation and caller: enough to reach each refusal the inputs can, few enough for CI.
EXAMPLES = 6
BOUNDED = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


async def _document(stack: Stack, service: str) -> dict[str, Any]:
    async with stack.client(service) as client:
        response = await client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    return response.json()


def _tokens(infra: Infra, merchant_id: str) -> dict[str, str]:
    """A token of every role, acting for a merchant shop knows (so merchant routes get past "which merchant")."""
    return {
        "buyer": infra.token("buyer"),
        "host": infra.token("host", merchant_id=merchant_id),
        "merchant": infra.token("merchant", merchant_id=merchant_id),
        "operator": infra.token("operator"),
        "clerk": infra.token("clerk", store_id=str(uuid.uuid4())),
    }


def _callers(operation: dict[str, Any]) -> list[str | None]:
    """Who calls an operation: each role it names, any token where it names none, nobody where it is public."""
    if not operation.get("security"):
        return [None]
    return list(operation.get("x-roles") or ["buyer"])


def _run(operation: schemathesis.APIOperation, base_url: str, headers: dict[str, str], ids: dict[str, str]) -> int:
    """Call one operation with generated requests (on `ids` where given); the requests sent, or the failure raised."""
    sent = 0

    @BOUNDED
    @given(case=operation.as_strategy(path_parameters=ids or None))
    def call(case: schemathesis.Case) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS, timeout=30)

    call()
    return sent


def _exercise(
    base_url: str, document: dict[str, Any], tokens: dict[str, str], known: dict[str, str]
) -> tuple[int, int, list[str]]:
    """Run every operation as each of its callers, on generated ids and then on `known` ones where it takes them:
    (operations, requests, failures)."""
    schema = schemathesis.openapi.from_dict(document)
    operations = requests = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        raw = document["paths"][operation.path][operation.method.lower()]
        ids = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
        # A feed of a room that exists streams until the client leaves: it gets generated ids only (see below).
        passes = [{}, ids] if ids and "text/event-stream" not in str(raw["responses"]) else [{}]
        for role, path_parameters in itertools.product(_callers(raw), passes):
            headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
            try:
                requests += _run(operation, base_url, headers, path_parameters)
            except Exception as exc:  # every operation's failure, not only the first
                failures.append(f"{operation.label} as {role or 'anonymous'} on {path_parameters or 'any ids'}:\n{exc}")
    return operations, requests, failures


async def _existing(stack: Stack, tokens: dict[str, str], merchant_id: str) -> dict[str, str]:
    """Things that exist, by path parameter name: the merchant, a product with a SKU, a live room of the merchant."""
    async with stack.client("shop", tokens["merchant"]) as shop:
        skus = [{"name": "Blue", "price_minor": 1200, "stock": 5}]
        product = await shop.post("/seller/products", json={"title": "Mug", "skus": skus})
    assert product.status_code == 201, product.text
    async with stack.client("live", tokens["host"]) as live:
        room = await live.post("/rooms", json={"title": "Contract test"})
        assert room.status_code == 201, room.text
        room_id = room.json()["room_id"]
        started = await live.post(f"/rooms/{room_id}/start")
    assert started.status_code == 200, started.text
    return {
        "merchant_id": merchant_id,
        "product_id": product.json()["product_id"],
        "sku_id": product.json()["skus"][0]["sku_id"],
        "room_id": room_id,
    }


@pytest.mark.parametrize("service", SERVICES)
async def test_every_operation_answers_what_its_openapi_document_says(stack: Stack, service: str) -> None:
    merchant_id, _ = await onboard_merchant(stack)
    tokens = _tokens(stack.infra, merchant_id)
    known = await _existing(stack, tokens, merchant_id)
    document = await _document(stack, service)
    operations, requests, failures = await asyncio.to_thread(_exercise, stack.url(service), document, tokens, known)
    print(f"{service}: {operations} operations, {requests} requests, {len(failures)} failures")
    assert not failures, "\n\n".join(failures)
    assert operations == sum(len(item) for item in document["paths"].values())


@pytest.mark.parametrize("service", SERVICES)
async def test_served_document_declares_bearer_auth_and_problem_answers_and_loads_nothing(
    stack: Stack, service: str
) -> None:
    document = await _document(stack, service)
    async with stack.client(service) as client:
        root = await client.get("/schema")
    # The schema root is the same document, not a page pulling a viewer from a CDN.
    assert root.status_code == 200
    assert root.json() == document
    assert "cdn" not in root.text.lower()
    assert "<script" not in root.text.lower()
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": document["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "code", "field"} <= set(problem["properties"])
    responses = document["components"]["responses"]
    for item in document["paths"].values():
        for operation in item.values():
            answers = operation["responses"]
            if operation.get("security"):
                assert "401" in answers, operation["operationId"]
            else:
                assert not {"401", "403"} & set(answers), operation["operationId"]
            for status, answer in answers.items():
                if status.startswith("2"):
                    continue
                shared = responses[answer["$ref"].rsplit("/", 1)[1]]
                assert shared["content"] == {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, (operation["operationId"], status)


async def test_checkout_requires_an_idempotency_key_and_the_room_feed_is_an_event_stream(stack: Stack) -> None:
    checkout = (await _document(stack, "orders"))["paths"]["/checkout"]["post"]
    feed = (await _document(stack, "live"))["paths"]["/rooms/{room_id}/feed"]["get"]
    key = next(p for p in checkout["parameters"] if p["name"] == "Idempotency-Key")
    assert key["in"] == "header"
    assert key["required"] is True
    assert {"400", "409", "422"} <= set(checkout["responses"])
    assert list(feed["responses"]["200"]["content"]) == ["text/event-stream"]
    # And the feed does answer so: an event stream for a room, problem+json for no room.
    merchant_id, _ = await onboard_merchant(stack)
    known = await _existing(stack, _tokens(stack.infra, merchant_id), merchant_id)
    async with stack.client("live") as client:
        async with client.stream("GET", f"/rooms/{known['room_id']}/feed") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
        missing = await client.get(f"/rooms/{uuid.uuid4()}/feed")
    assert_problem(missing, 404)


async def test_document_is_reachable_without_a_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("shop")) as client:
        response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.oai.openapi+json")
