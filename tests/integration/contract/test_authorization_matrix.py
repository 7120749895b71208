"""The authorization matrix, generated from the services' own OpenAPI documents: every id-bearing route, called on
tenant A's real objects by everyone who must not reach them, answers 404 (someone else's object) or 403 (a role that
may not use the route at all), quotes nothing of the object, and changes nothing its owner can see.

How a route is classified, from its operation in the document (nothing per route unless it is an exception):
- no `security`: public; an id-bearing public route must be a GET (anyone may read it), else it is unclassified;
- `x-roles`: the roles its guard lets in. Every other role gets 403 (called as A's own member of that role, the
  nearest to the object: the merchant on its buyer's order, the host on its merchant's product); no token gets 401;
- the first path parameter names the object (nested ids belong to it: `/rooms/{room_id}/flash-sales/{sale_id}`);
  `OWNERS` says which of A's identities own each kind. Every identity of a permitted role that is not an owner
  (tenant B, and A's colleagues who do not own it: another host of A's merchant, a clerk of another of A's stores)
  gets 404, unless `EXCEPTIONS` documents another answer. Operators hold no tenant: an operator route reaches every
  object of its kind, so operators are never a "someone else";
- unclassified (the test fails and says how to classify it): a path parameter `OWNERS` does not know, a guarded
  route naming no roles, a permitted role none of whose identities owns the object (is it open to every member of
  the role? then it is an exception), a public write, or an exception whose route no longer exists.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest_asyncio

from tests.harness import PROBLEM, Stack
from tests.integration.contract.authz_support import IDENTITIES, World, build_world

SERVICES = ("shop", "orders", "live", "aftersales", "local_life")
ROLES = ("buyer", "host", "merchant", "clerk", "operator")

# Who owns the object a path parameter names (identities of tests/integration/contract/authz_support.py). A new kind
# of id needs a line here and an object of that kind in `build_world`.
OWNERS: dict[str, frozenset[str]] = {
    "merchant_id": frozenset({"merchant A", "host A", "host A2"}),  # a merchant's hosts list its rooms
    "product_id": frozenset({"merchant A"}),
    "sku_id": frozenset({"merchant A", "buyer A"}),  # the merchant's SKU; the line of buyer A's cart it names
    "room_id": frozenset({"host A", "merchant A"}),
    "sale_id": frozenset({"host A", "merchant A"}),
    "drop_id": frozenset({"host A", "merchant A"}),
    "session_id": frozenset({"host A", "merchant A"}),
    "video_id": frozenset({"host A", "merchant A"}),
    "host_id": frozenset({"host A", "merchant A"}),  # the host itself; a merchant it hosts for reads its tier
    "checkout_id": frozenset({"buyer A"}),
    "payment_id": frozenset({"buyer A"}),
    "order_id": frozenset({"buyer A", "merchant A"}),
    "shipment_id": frozenset({"buyer A", "merchant A"}),
    "case_id": frozenset({"buyer A", "merchant A"}),
    "store_id": frozenset({"merchant A"}),
    "clerk_id": frozenset({"merchant A"}),
    "deal_id": frozenset({"merchant A"}),
    "redemption_id": frozenset({"clerk A"}),
    "voucher_id": frozenset({"buyer A"}),
    "refund_id": frozenset({"buyer A"}),
}


@dataclass(frozen=True)
class Exemption:
    """What a permitted role's non-owners get instead of 404, and the design's reason (docs/ARCHITECTURE.md).

    `answer` None: the route is open to every member of `roles` by design (nobody of them is "someone else").
    """

    roles: tuple[str, ...]
    answer: tuple[int, str] | None
    reason: str


_NOT_YOUR_ROOM = Exemption(
    ("host", "merchant"),
    (403, "not-your-room"),
    "HTTP APIs, live: room controls, bag, pin, stats, sales and drops answer another host (even of the same "
    "merchant) or another merchant 403 not-your-room: rooms are public, so this hides nothing",
)
_WATCHING = Exemption(
    ("buyer",), None, "rooms are public: any buyer may watch any live room (Rooms and sessions; presence)"
)

# The documented exceptions to "someone else's object is 404", by (service, method, path). Nothing else.
EXCEPTIONS: dict[tuple[str, str, str], Exemption] = {
    **{
        ("live", method, path): _NOT_YOUR_ROOM
        for method, path in (
            ("PATCH", "/rooms/{room_id}"),
            ("POST", "/rooms/{room_id}/start"),
            ("POST", "/rooms/{room_id}/end"),
            ("GET", "/rooms/{room_id}/stats"),
            ("POST", "/rooms/{room_id}/bag"),
            ("DELETE", "/rooms/{room_id}/bag/{product_id}"),
            ("DELETE", "/rooms/{room_id}/bag/deals/{deal_id}"),
            ("PUT", "/rooms/{room_id}/bag/order"),
            ("PUT", "/rooms/{room_id}/pin"),
            ("POST", "/rooms/{room_id}/flash-sales"),
            ("POST", "/rooms/{room_id}/flash-sales/{sale_id}/end"),
            ("GET", "/rooms/{room_id}/flash-sales/{sale_id}/report"),
            ("POST", "/rooms/{room_id}/coupon-drops"),
            ("POST", "/rooms/{room_id}/coupon-drops/{drop_id}/end"),
        )
    },
    ("live", "GET", "/merchants/{merchant_id}/rooms"): Exemption(
        ("host", "merchant"),
        (403, "not-your-merchant"),
        "HTTP APIs, live: GET /merchants/{id}/rooms answers anyone but the merchant and its hosts 403 "
        "not-your-merchant (merchants and their rooms are public)",
    ),
    ("live", "DELETE", "/videos/{video_id}"): Exemption(
        ("host", "merchant"),
        (403, "not-your-video"),
        "Short videos: a video is deleted by its host, its merchant or an operator; videos are public "
        "(GET /videos/{id}), so 403 not-your-video hides nothing",
    ),
    ("live", "POST", "/rooms/{room_id}/join"): _WATCHING,
    ("live", "POST", "/rooms/{room_id}/heartbeat"): _WATCHING,
    ("live", "POST", "/rooms/{room_id}/leave"): _WATCHING,
    ("live", "POST", "/rooms/{room_id}/flash-sales/{sale_id}/purchase"): Exemption(
        ("buyer",), None, "Flash sales: any buyer may buy in a running sale of a live room"
    ),
    ("live", "POST", "/rooms/{room_id}/coupon-drops/{drop_id}/claim"): Exemption(
        ("buyer",), None, "Coupon drops: any buyer watching the room may claim"
    ),
    ("live", "PUT", "/hosts/{host_id}/follow"): Exemption(
        ("buyer",), None, "Live now, follows and host pages: any buyer may follow any host"
    ),
    ("live", "DELETE", "/hosts/{host_id}/follow"): Exemption(
        ("buyer",), None, "Live now, follows and host pages: any buyer may unfollow (their own follow)"
    ),
}

# Bodies for routes whose minimal schema-derived body is refused on its shape alone ("exactly one of"), before anyone
# asks whose room it is: what the owner would send, from A's ids.
BODIES: dict[tuple[str, str, str], Callable[[dict[str, str]], Any]] = {
    ("live", "POST", "/rooms/{room_id}/bag"): lambda ids: {"product_id": ids["product_id"]},
    ("live", "PUT", "/rooms/{room_id}/bag/order"): lambda ids: {"product_ids": [ids["product_id"]]},
    ("live", "PUT", "/rooms/{room_id}/pin"): lambda ids: {"product_id": ids["product_id"]},
}


@dataclass(frozen=True)
class Case:
    service: str
    method: str
    template: str
    caller: str | None  # an identity's name; None: no token
    status: int
    code: str | None

    @property
    def label(self) -> str:
        return f"{self.service} {self.method} {self.template} as {self.caller or 'anonymous'}"


class Unclassified(Exception):
    pass


async def _documents(stack: Stack) -> dict[str, dict[str, Any]]:
    found = {}
    for service in SERVICES:
        async with stack.client(service) as client:
            response = await client.get("/schema/openapi.json")
        assert response.status_code == 200, response.text
        found[service] = response.json()
    return found


def _operations(documents: dict[str, dict[str, Any]]):
    for service, document in documents.items():
        for template, item in document["paths"].items():
            for method, operation in item.items():
                yield service, method.upper(), template, operation


def _path_params(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]


def classify(
    service: str, method: str, template: str, operation: dict[str, Any], identities: dict[str, str]
) -> list[Case]:
    """Who must not reach this id-bearing operation, and what each gets: `identities` maps a name to its role."""
    params = _path_params(operation)
    key = (service, method, template)
    where = f"{service} {method} {template}"
    if not operation.get("security"):
        if method != "GET" and key not in EXCEPTIONS:
            raise Unclassified(f"{where} is public but writes: guard it, or add it to EXCEPTIONS with the reason")
        return []
    roles = tuple(operation.get("x-roles") or ())
    if not roles:
        raise Unclassified(
            f"{where} takes any valid token: name its roles in its `requires(...)` guard, or add it to EXCEPTIONS"
        )
    unknown = [p for p in params if p not in OWNERS]
    if unknown:
        raise Unclassified(
            f"{where}: no owner known for path parameter(s) {unknown}: add each to OWNERS (who of tenant A owns "
            "such a thing) and make one in authz_support.build_world"
        )
    owners = OWNERS[params[0]]
    exception = EXCEPTIONS.get(key)
    cases = [Case(service, method, template, None, 401, "unauthorized")]
    for role in ROLES:
        members = [name for name, of in identities.items() if of == role]
        if role not in roles:
            nearest = next(name for name in members if name in ("operator", f"{role} A"))
            cases.append(Case(service, method, template, nearest, 403, "forbidden"))
            continue
        if role == "operator":
            continue  # no tenant: an operator's route reaches every object of its kind
        if exception is not None and role in exception.roles:
            if exception.answer is None:
                continue  # open to every member of the role by design
            status, code = exception.answer
        else:
            if not owners & set(members):
                raise Unclassified(
                    f"{where}: role {role} may call it but none of tenant A's {role}s owns a {params[0]} "
                    f"(OWNERS says {sorted(owners)}): if every {role} may reach any {params[0]} by design, add it "
                    "to EXCEPTIONS with answer None and the doc's reason; else fix OWNERS"
                )
            status, code = 404, None
        cases += [Case(service, method, template, name, status, code) for name in members if name not in owners]
    return cases


def classify_all(documents: dict[str, dict[str, Any]], identities: dict[str, str]) -> tuple[int, list[Case]]:
    """(id-bearing operations, every case); raises Unclassified naming every operation it cannot classify."""
    routes, cases, problems = 0, [], []
    seen = set()
    for service, method, template, operation in _operations(documents):
        seen.add((service, method, template))
        if not _path_params(operation):
            continue
        routes += 1
        try:
            cases += classify(service, method, template, operation, identities)
        except Unclassified as exc:
            problems.append(str(exc))
    stale = sorted(set(EXCEPTIONS) - seen)
    if stale:
        problems.append(f"EXCEPTIONS names routes no document has (remove or rename them): {stale}")
    if problems:
        raise Unclassified("\n".join(problems))
    return routes, cases


# --- requests -------------------------------------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def example(schema: dict[str, Any], document: dict[str, Any], world: World, name: str = "") -> Any:
    """A minimal value the schema accepts: required members only, ids of A's objects where a member names one."""
    schema = _resolve(schema, document)
    for union in ("oneOf", "anyOf"):
        if union in schema:
            options = [s for s in schema[union] if _resolve(s, document).get("type") != "null"]
            merged = {**{k: v for k, v in schema.items() if k != union}, **_resolve(options[0], document)}
            return example(merged, document, world, name)
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        members = schema.get("properties", {})
        # Nothing required (a patch): the first member, so that a write that got through would show to the owner.
        chosen = schema.get("required") or list(members)[:1]
        return {key: example(members[key], document, world, key) for key in chosen}
    if kind == "array":
        return [example(schema.get("items", {}), document, world, name) for _ in range(schema.get("minItems", 0))]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 1))
    if kind == "boolean":
        return False
    if name in world.ids:
        return world.ids[name]
    if schema.get("format") == "date":
        return datetime.now(UTC).date().isoformat()
    if schema.get("format") == "date-time":
        return (datetime.now(UTC) + timedelta(days=1)).isoformat()
    if schema.get("format") == "uuid":
        return str(uuid.uuid4())
    for candidate in ("authz", "USD", "https://example.com/authz"):
        if not schema.get("pattern") or re.search(schema["pattern"], candidate):
            return candidate
    raise AssertionError(f"no example for {name}: {schema}")


def request_of(
    client: httpx.AsyncClient,
    case: Case,
    operation: dict[str, Any],
    document: dict[str, Any],
    world: World,
    path_ids: dict[str, str] | None = None,
) -> httpx.Request:
    """The case's request: A's ids in the path (or `path_ids`), the caller's token, what the operation requires."""
    path = case.template
    for name in _path_params(operation):
        path = path.replace("{" + name + "}", (path_ids or world.ids)[name])
    headers: dict[str, str] = {}
    if case.caller is not None:
        headers["Authorization"] = f"Bearer {world.of(case.caller).token}"
    params: dict[str, Any] = {}
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path" or not parameter.get("required"):
            continue
        value = example(parameter.get("schema", {}), document, world, parameter["name"])
        if parameter["in"] == "header":
            headers[parameter["name"]] = uuid.uuid4().hex if parameter["name"] == "Idempotency-Key" else str(value)
        else:
            params[parameter["name"]] = value
    body = None
    if "requestBody" in operation:
        key = (case.service, case.method, case.template)
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        body = BODIES[key](world.ids) if key in BODIES else example(schema, document, world)
    return client.build_request(case.method, path, headers=headers, params=params, json=body)


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> tuple[int, str, str]:
    """(status, content type, body text); an event stream is closed at its first byte."""
    response = await client.send(request, stream=True)
    try:
        kind = response.headers.get("content-type", "")
        text = "" if kind.startswith("text/event-stream") else (await response.aread()).decode()
        return response.status_code, kind, text
    finally:
        await response.aclose()


# --- what owners see ------------------------------------------------------------------------------------------------

# Members that differ between two reads while nobody acts: each answer's own id, and "now" (what is due now is cut
# at the moment of asking).
VOLATILE: frozenset[str] = frozenset({"request_id", "cut_at"})


def _stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def owner_reads(documents: dict[str, dict[str, Any]], world: World) -> list[tuple[str, str, str, str | None]]:
    """(service, template, path, reader) of every non-streaming GET without required query parameters that an owner
    of A's objects can make (anyone, for a public one: reader None): each of A's objects as its owner sees it."""
    identities = {name: identity.role for name, identity in world.identities.items()}
    reads = []
    for service, method, template, operation in _operations(documents):
        params = _path_params(operation)
        answers = json.dumps(operation["responses"])
        required = [p for p in operation.get("parameters", []) if p["in"] != "path" and p.get("required")]
        if method != "GET" or "text/event-stream" in answers or required:
            continue
        if not operation.get("security"):
            # Public reads of A's things (not of kinds A has none of, such as a team buy).
            readers: list[str | None] = [None] if params and set(params) <= set(world.ids) else []
        else:
            roles = operation.get("x-roles") or ()
            owners = OWNERS[params[0]] if params else {name for name in identities if name.endswith(" A")}
            readers = [n for n in identities if identities[n] in roles and (n in owners or identities[n] == "operator")]
        if not readers:
            continue
        path = template
        for name in params:
            path = path.replace("{" + name + "}", world.ids[name])
        reads.append((service, template, path, readers[0]))
    return reads


async def snapshot(
    stack: Stack, world: World, reads: list[tuple[str, str, str, str | None]]
) -> dict[str, tuple[int, Any]]:
    async def read(service: str, path: str, reader: str | None) -> tuple[int, Any]:
        async with stack.client(service, world.of(reader).token if reader else None) as client:
            response = await client.get(path)
        body = response.json() if response.headers.get("content-type", "").endswith("json") else response.text
        return response.status_code, _stable(body)

    answers = await asyncio.gather(*(read(service, path, reader) for service, _, path, reader in reads))
    keys = [f"{service} GET {path} as {reader or 'anyone'}" for service, _, path, reader in reads]
    return dict(zip(keys, answers, strict=True))


async def steady_snapshot(
    stack: Stack, world: World, reads: list[tuple[str, str, str, str | None]]
) -> dict[str, tuple[int, Any]]:
    """What the owners see, once two reads in a row agree (folds and counters of what just happened have landed)."""
    before = await snapshot(stack, world, reads)
    for _ in range(50):
        await asyncio.sleep(0.2)
        again = await snapshot(stack, world, reads)
        if again == before:
            return before
        before = again
    raise AssertionError("what the owners read kept changing while nobody acted")


def _differences(before: Any, after: Any, where: str = "") -> list[str]:
    if isinstance(before, tuple) and isinstance(after, tuple):
        before, after = list(before), list(after)
    if isinstance(before, dict) and isinstance(after, dict):
        found = []
        for key in sorted(set(before) | set(after)):
            found += _differences(before.get(key), after.get(key), f"{where}.{key}")
        return found
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d for n, (b, a) in enumerate(zip(before, after, strict=True)) for d in _differences(b, a, f"{where}[{n}]")
        ]
    return [] if before == after else [f"{where}: {before!r} -> {after!r}"]


# --- the tests ------------------------------------------------------------------------------------------------------


def _unknown_like(value: str) -> str:
    """An id of the same shape as `value` that names nothing."""
    try:
        uuid.UUID(value)
    except ValueError:
        return f"{value.split('-')[0]}-{uuid.uuid4().hex[:12]}"
    return str(uuid.uuid4())


def _problem(text: str, ids: dict[str, str]) -> dict[str, Any]:
    """A problem's members a client could tell apart, without the request's own path, its ids and its request id."""
    for value in ids.values():
        text = text.replace(value, "<id>")
    return {k: v for k, v in json.loads(text).items() if k not in ("instance", "request_id")}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(stack: Stack) -> World:
    return await build_world(stack)


async def test_every_id_bearing_route_of_every_service_is_classified(stack: Stack) -> None:
    documents = await _documents(stack)
    routes, cases = classify_all(documents, IDENTITIES)
    guarded = {(c.service, c.method, c.template) for c in cases}
    for service, method, template, operation in _operations(documents):
        if operation.get("security") and _path_params(operation):
            # At least "no token: 401" and one role or tenant refused.
            assert len([c for c in cases if (c.service, c.method, c.template) == (service, method, template)]) >= 2
            assert (service, method, template) in guarded
    assert routes >= len(guarded) > 0


def test_a_route_the_generator_cannot_classify_fails_saying_how_to_classify_it() -> None:
    def operation(roles: list[str] | None, *params: str) -> dict[str, Any]:
        found: dict[str, Any] = {"parameters": [{"name": p, "in": "path"} for p in params], "responses": {}}
        if roles is not None:
            found |= {"security": [{"bearerAuth": []}], "x-roles": roles}
        return found

    def refusal(*route: Any) -> str:
        try:
            classify(*route, IDENTITIES)
        except Unclassified as exc:
            return str(exc)
        raise AssertionError(f"{route[:3]} was classified")

    assert "add each to OWNERS" in refusal("live", "GET", "/widgets/{widget_id}", operation(["host"], "widget_id"))
    # A buyer route on a host's room: nobody says whether every buyer may do it.
    open_to_all = refusal("live", "POST", "/rooms/{room_id}/wave", operation(["buyer"], "room_id"))
    assert "add it to EXCEPTIONS with answer None" in open_to_all
    assert "name its roles" in refusal("orders", "GET", "/orders/{order_id}/x", operation([], "order_id"))
    assert "public but writes" in refusal("shop", "DELETE", "/products/{product_id}", operation(None, "product_id"))
    # And a route it knows is classified without a word of it here.
    cases = classify("orders", "POST", "/orders/{order_id}/gift", operation(["buyer"], "order_id"), IDENTITIES)
    assert {(c.caller, c.status) for c in cases} == {
        (None, 401),
        ("buyer B", 404),
        ("host A", 403),
        ("merchant A", 403),
        ("clerk A", 403),
        ("operator", 403),
    }


async def test_nobody_reaches_another_tenants_object_sees_its_data_or_changes_it(stack: Stack, world: World) -> None:
    documents = await _documents(stack)
    routes, cases = classify_all(documents, IDENTITIES)
    reads = owner_reads(documents, world)
    before = await steady_snapshot(stack, world, reads)
    # The owners reach what they own: so a 404 below is about who asks, not about an object that is not there.
    unreached = {read: answer for read, answer in before.items() if answer[0] in (401, 403, 404)}
    assert not unreached, unreached
    seen = json.dumps([answer for _, answer in before.values()])
    assert not [name for name, value in world.ids.items() if value not in seen], "objects no owner read shows"

    operations = {(s, m, t): o for s, m, t, o in _operations(documents)}
    secrets = {world.marker, *world.ids.values(), *(i.sub for i in world.identities.values())}
    unknown = {name: _unknown_like(value) for name, value in world.ids.items()}
    failures: list[str] = []
    gate = asyncio.Semaphore(8)
    clients = {service: httpx.AsyncClient(base_url=stack.url(service), timeout=30) for service in SERVICES}

    async def run(case: Case) -> None:
        operation = operations[(case.service, case.method, case.template)]
        client = clients[case.service]
        request = request_of(client, case, operation, documents[case.service], world)
        async with gate:
            status, kind, text = await _send(client, request)
        if status != case.status:
            failures.append(f"{case.label}: expected {case.status}, got {status}: {text[:300]}")
            return
        if not kind.startswith("application/problem+json"):
            failures.append(f"{case.label}: {status} is not problem+json ({kind})")
            return
        body = json.loads(text)
        if case.code is not None and body.get("type") != PROBLEM + case.code:
            failures.append(f"{case.label}: expected code {case.code}, got {body.get('type')}")
        quoted = text.replace(request.url.path, "")
        own = world.of(case.caller).sub if case.caller else None
        leaked = sorted(s for s in secrets - {own} if s in quoted and s not in request.url.path)
        if leaked:
            failures.append(f"{case.label}: the refusal quotes {leaked}: {text[:300]}")
        if status == 404:
            # Someone else's object answers exactly as one that does not exist: its existence does not leak either.
            twin = request_of(client, case, operation, documents[case.service], world, unknown)
            async with gate:
                twin_status, _, twin_text = await _send(client, twin)
            if (twin_status, _problem(twin_text, unknown)) != (status, _problem(text, world.ids)):
                failures.append(f"{case.label}: answers unlike a missing one: {text[:200]} vs {twin_text[:200]}")

    try:
        await asyncio.gather(*(run(case) for case in cases))
    finally:
        await asyncio.gather(*(client.aclose() for client in clients.values()))
    after = await snapshot(stack, world, reads)
    changed = [f"{read}: {d}" for read in before for d in _differences(before[read], after[read])]
    print(
        f"authorization matrix: {routes} id-bearing routes, {len(cases)} cases, {len(reads)} owner reads, "
        f"{len(failures)} failures, {len(changed)} changes"
    )
    assert not failures + changed, "\n".join(sorted(failures) + changed)


async def test_nobody_elses_list_shows_tenant_a_s_things(stack: Stack, world: World) -> None:
    """The routes without an id in the path (my orders, my cases, the store's redemptions, a report by deal_id) show
    a caller of another tenant nothing of A's: an id in the query is someone else's object, like one in the path."""
    documents = await _documents(stack)
    # A's colleagues (host A2, clerk A2) know their merchant; nothing else of A's is anyone else's to see.
    secrets = {world.marker, *(value for name, value in world.ids.items() if name != "merchant_id")}
    failures: list[str] = []
    calls = 0
    for service, method, template, operation in _operations(documents):
        roles = operation.get("x-roles") or ()
        if method != "GET" or _path_params(operation) or not roles:
            continue
        for name, identity in world.identities.items():
            if identity.role not in roles or identity.role == "operator" or name.endswith(" A"):
                continue
            case = Case(service, method, template, name, 200, None)
            async with httpx.AsyncClient(base_url=stack.url(service), timeout=30) as client:
                request = request_of(client, case, operation, documents[service], world)
                status, _, text = await _send(client, request)
            calls += 1
            asked = str(request.url)
            shown = sorted(s for s in secrets if s in text.replace(request.url.path, "") and s not in asked)
            if status not in (200, 404) or shown:
                failures.append(f"{case.label} ({asked}): {status}, shows {shown}: {text[:300]}")
    print(f"lists: {calls} calls, {len(failures)} failures")
    assert calls
    assert not failures, "\n".join(failures)
