"""Test harness: real Postgres, NATS and localstripe; services served in-process over real HTTP."""

from __future__ import annotations

import asyncio
import importlib
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import uvicorn
from litestar import Litestar
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack import embedded
from devstack.embedded import free_port
from libs.auth import mint_token
from libs.clock import OffsetClock
from libs.contracts import Event, OrderLine, OrderPaid
from libs.db import migrate
from libs.settings import Settings
from libs.telemetry import Telemetry, add_exporter

SERVICES = ("shop", "live", "orders", "aftersales", "local_life")
# The web app: no schema, no NATS; it calls the other services' HTTP APIs, so a Stack starts it after them.
WEB = "web"


@dataclass
class Infra:
    """Where the real servers are, for this test session."""

    database_url: str
    nats_url: str
    stripe_base: str
    namespace: str
    webhook_secret: str = "whsec_test_liveloop"
    jwt_secret: str = "test-secret-not-for-production-0123456789"

    def settings(self, service: str, **overrides: object) -> Settings:
        """Settings of one service (its own class) pointed at this session's servers.

        Overrides the service's settings do not have are left out: `Stack.start` hands the same overrides to every
        service it starts (and checks that each one is known to at least one of them).
        """
        cls = settings_class(service)
        known = settings_fields(service)
        base: dict[str, object] = dict(
            service=service,
            database_url=self.database_url,
            nats_url=self.nats_url,
            namespace=self.namespace,
            jwt_secret=self.jwt_secret,
            stripe_api_base=self.stripe_base,
            stripe_api_key="sk_test_liveloop",
            stripe_webhook_secret=self.webhook_secret,
            relay_interval_s=0.05,
            scheduler_interval_s=0.1,
            db_pool_max=8,
        )
        base.update(overrides)
        return cls(**{name: value for name, value in base.items() if name in known})

    def token(self, role: str, sub: str | None = None, **claims: str | int | None) -> str:
        """A valid token; `sub` defaults to a fresh id so tests never share a user by accident."""
        return mint_token(sub=sub or f"{role}-{uuid.uuid4().hex[:12]}", role=role, secret=self.jwt_secret, **claims)  # type: ignore[arg-type]


def settings_class(service: str) -> type[Settings]:
    """The settings class a service reads (its ServiceSpec says); the platform's for an app a test builds itself."""
    if service == WEB:
        return importlib.import_module("services.web.settings").WebSettings
    if service not in SERVICES:
        return Settings
    return importlib.import_module(f"services.{service}.app").SPEC.settings


def settings_fields(service: str) -> set[str]:
    return {f.name for f in msgspec.structs.fields(settings_class(service))}


@asynccontextmanager
async def fresh_infra(servers: tuple[str, str, str]) -> AsyncIterator[Infra]:
    """A fresh database and NATS namespace on the session's servers; the database is dropped afterwards."""
    admin_dsn, nats_url, stripe_base = servers
    name = f"liveloop_test_{uuid.uuid4().hex[:10]}"
    namespace = f"t{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield Infra(
            database_url=embedded.dsn_for_database(admin_dsn, name),
            nats_url=nats_url,
            stripe_base=stripe_base,
            namespace=namespace,
        )
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        await embedded.drop_streams(nats_url, f"{namespace}_")


class ServedApp:
    """One Litestar app behind a real uvicorn server on 127.0.0.1."""

    def __init__(self, name: str, app: Litestar, port: int) -> None:
        self.name = name
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            # An open room feed (SSE) would otherwise hold a stopping server forever.
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self._task: asyncio.Task[None] | None = None

    @property
    def runtime(self):
        return self.app.state.runtime

    async def start(self, timeout: float = 30.0) -> None:
        self._task = asyncio.create_task(self.server.serve(), name=f"serve-{self.name}")
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError(f"{self.name} stopped during start-up")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name} did not start in {timeout}s")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task:
            await asyncio.wait_for(self._task, 30)


@dataclass
class Stack:
    """Some or all services of one deployment, sharing one clock and one span exporter; each instance's metrics
    are read by its own reader (`metrics[key]`)."""

    infra: Infra
    spans: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)
    clock: OffsetClock = field(default_factory=OffsetClock)
    apps: dict[str, ServedApp] = field(default_factory=dict)
    metrics: dict[str, InMemoryMetricReader] = field(default_factory=dict)
    overrides: dict[str, dict[str, object]] = field(default_factory=dict)
    # What the web app's dev sign-in offers (see `web_demo`), made when "web" first starts.
    demo: WebDemo | None = None

    async def start(self, *services: str, **overrides: object) -> Stack:
        """Start `services` (all five by default); orders gets Stripe's webhook pointed at it; "web", when named,
        starts last, pointed at the others."""
        names = services or SERVICES
        names = (*(name for name in names if name != WEB), *(name for name in names if name == WEB))
        unknown = set(overrides) - set().union(*(settings_fields(name) for name in names))
        if unknown:
            raise TypeError(f"no service of {names} has the settings {sorted(unknown)}")
        for name in names:
            self.overrides[name] = overrides
            served = await self._serve(name, free_port())
            if name == "orders":
                await register_webhook(self.infra, f"{served.url}/stripe/webhook", webhook_id=f"orders-{served.port}")
        return self

    async def start_instance(self, name: str, key: str, **overrides: object) -> ServedApp:
        """Another instance of service `name` (same database and NATS namespace), reachable as `key`."""
        unknown = set(overrides) - settings_fields(name)
        if unknown:
            raise TypeError(f"{name} has no settings {sorted(unknown)}")
        self.overrides[key] = {**self.overrides.get(name, {}), **overrides}
        return await self._serve(name, free_port(), key=key)

    async def restart(self, name: str, *, while_down: Callable[[], object] | None = None) -> None:
        """Stop one service and start a fresh process-equivalent of it on the same port (new app, new pools)."""
        old = self.apps.pop(name)
        await old.stop()
        if while_down is not None:
            while_down()
        await self._serve(old.name, old.port, key=name)

    @asynccontextmanager
    async def down(self, name: str) -> AsyncIterator[None]:
        """Service `name` stopped for the block (nobody answers its requests), served again afterwards on its port."""
        old = self.apps.pop(name)
        await old.stop()
        try:
            yield
        finally:
            await self._serve(old.name, old.port, key=name)

    async def _serve(self, name: str, port: int, *, key: str | None = None) -> ServedApp:
        if name == WEB:
            return await self._serve_web(port, key=key)
        reader = InMemoryMetricReader()
        telemetry = Telemetry(name, metric_readers=[reader])
        add_exporter(telemetry, self.spans)
        self.metrics[key or name] = reader
        module = importlib.import_module(f"services.{name}.app")
        settings = self.infra.settings(name, **self.overrides.get(key or name, {}))
        served = ServedApp(name, module.create_app(settings, telemetry=telemetry, clock=self.clock), port)
        await served.start()
        self.apps[key or name] = served
        return served

    async def _serve_web(self, port: int, *, key: str | None = None) -> ServedApp:
        """The web app in dev mode, calling this stack's services, its sign-in offering this stack's demo users."""
        reader = InMemoryMetricReader()
        telemetry = Telemetry(WEB, metric_readers=[reader])
        add_exporter(telemetry, self.spans)
        self.metrics[key or WEB] = reader
        self.demo = self.demo or await web_demo(self)
        urls = {f"{name}_url": served.url for name, served in self.apps.items() if name in SERVICES}
        overrides = {
            "environment": "dev",
            "demo_file": str(self.demo.file),
            **urls,
            **self.overrides.get(key or WEB, {}),
        }
        module = importlib.import_module(f"services.{WEB}.app")
        served = ServedApp(WEB, module.create_app(self.infra.settings(WEB, **overrides), telemetry=telemetry), port)
        await served.start()
        self.apps[key or WEB] = served
        return served

    def url(self, service: str) -> str:
        """Base URL of a service (or of an extra instance, by the key it was started under)."""
        return self.apps[service].url

    def client(self, service: str, token: str | None = None) -> httpx.AsyncClient:
        """An HTTP client for one service, as a user with `token` would call it."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.url(service), headers=headers, timeout=30)

    async def stop(self) -> None:
        for served in reversed(list(self.apps.values())):
            await served.stop()
        self.apps.clear()
        if self.demo is not None:  # the demo file's own temporary directory
            shutil.rmtree(self.demo.file.parent, ignore_errors=True)


@dataclass
class WebDemo:
    """The demo merchant (and store) the web app's dev sign-in mints tokens for, as `make up` seeds them."""

    file: Path
    merchant_id: str | None = None
    store_id: str | None = None

    def token(self, infra: Infra, role: str) -> str:
        """A token of the demo user of `role`, as the web app mints it when they sign in (for API checks)."""
        scope = {"merchant": ("merchant_id",), "host": ("merchant_id",), "clerk": ("merchant_id", "store_id")}
        claims = {name: getattr(self, name) for name in scope.get(role, ())}
        return infra.token(role, sub=f"{role}-demo", **claims)


async def web_demo(stack: Stack) -> WebDemo:
    """Seed what the dev sign-in needs from the services served so far: a merchant in shop, and a store with the
    demo clerk in local_life; written where the web app reads it (`demo_file`, like `make up`'s demo.json)."""
    path = Path(tempfile.mkdtemp(prefix="liveloop-web-")) / "demo.json"
    demo = WebDemo(path)
    if "shop" in stack.apps:
        demo.merchant_id, merchant_token = await onboard_merchant(stack, name="Demo Outfitters")
        if "local_life" in stack.apps:
            store = {
                "name": "Demo Outfitters Studio",
                "address": "1 Market St, San Francisco",
                "lat": 37.7936,
                "lng": -122.3958,
                "timezone": "America/Los_Angeles",
                "opening_hours": {str(day): [["00:00", "24:00"]] for day in range(7)},
            }
            async with stack.client("local_life", merchant_token) as seller:
                created = await seller.post("/seller/stores", json=store)
                assert created.status_code == 201, created.text
                demo.store_id = created.json()["store_id"]
                clerk = {"clerk_id": "clerk-demo", "name": "Demo Clerk"}
                added = await seller.post(f"/seller/stores/{demo.store_id}/clerks", json=clerk)
                assert added.status_code in (200, 201), added.text
    path.write_text(json.dumps({"merchant_id": demo.merchant_id, "store_id": demo.store_id}))
    return demo


async def register_webhook(infra: Infra, url: str, *, webhook_id: str) -> None:
    """Ask localstripe to post signed events to `url`."""
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{infra.stripe_base}/_config/webhooks/{webhook_id}", data={"url": url, "secret": infra.webhook_secret}
        )
        response.raise_for_status()


async def platform_schema(infra: Infra, prefix: str, *ddl: str) -> str:
    """A scratch schema with only the platform tables (outbox, inbox, due_jobs, ...), plus `ddl` run inside it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await migrate(infra.database_url, name, Path("/nonexistent"))
    if ddl:
        conn = await asyncpg.connect(infra.database_url, server_settings={"search_path": f'"{name}"'})
        try:
            for statement in ddl:
                await conn.execute(statement)
        finally:
            await conn.close()
    return name


async def eventually(check, *, timeout: float = 10.0, interval: float = 0.05):
    """Poll `check` (sync or async) until it returns a truthy value; fail with its last answer."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while True:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")
        await asyncio.sleep(interval)


async def publish(stack: Stack, event: Event, *, msg_id: str | None = None) -> None:
    """Put an event on NATS exactly as its owner's outbox relay would (same id = same Nats-Msg-Id)."""
    bus = next(iter(stack.apps.values())).runtime.bus
    await bus.publish_event(event.SUBJECT, msgspec.json.encode(event), {}, msg_id or event.event_id)


# Every problem+json `type` is this prefix plus the refusal's code.
PROBLEM = "https://liveloop.dev/problems/"


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None, field: str | None = None
) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with every member a client relies on; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status, body
    assert body["type"].startswith(PROBLEM), body
    if code is not None:
        assert body["type"] == PROBLEM + code, body
    assert body["title"], body
    assert body["detail"], body
    assert body["instance"] == response.request.url.path, body
    if field is not None:
        assert body.get("field") == field, body
    return body


def paid_order(**facts: Any) -> OrderPaid:
    """An OrderPaid as orders would announce it: one line of two units, 90.00 USD; `facts` override any field."""
    line = OrderLine(
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        title="Hotpot for two",
        sku_name="Weekday",
        quantity=2,
        unit_price_minor=4500,
        amount_minor=9000,
    )
    fields: dict[str, Any] = dict(
        order_id=str(uuid.uuid4()),
        checkout_id=str(uuid.uuid4()),
        payment_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{uuid.uuid4().hex[:8]}",
        merchant_id=str(uuid.uuid4()),
        lines=[line],
        amount_minor=9000,
        currency="USD",
        paid_at=datetime.now(UTC),
    )
    return OrderPaid(**(fields | facts))


async def delivered_twice(stack: Stack, event: Event) -> None:
    """Publish `event` twice under different message ids, as a re-published outbox row would arrive."""
    for msg_id in (event.event_id, str(uuid.uuid4())):
        await publish(stack, event, msg_id=msg_id)


async def caught_up(stack: Stack, service: str, durable: str, stream: str, *, deliveries: int) -> bool:
    """The durable consumer has seen `deliveries` messages of its stream and has none pending or unacked."""
    bus = stack.apps[service].runtime.bus
    info = await bus.js.consumer_info(bus.stream(stream), durable)
    return not (info.num_pending or info.num_ack_pending) and info.delivered.stream_seq >= deliveries


async def onboard_merchant(stack: Stack, *, currency: str = "USD", name: str | None = None) -> tuple[str, str]:
    """An operator onboards a merchant in shop: (its merchant_id, a merchant token acting for it)."""
    async with stack.client("shop", stack.infra.token("operator")) as operator:
        response = await operator.post(
            "/merchants", json={"name": name or f"Merchant {uuid.uuid4().hex[:6]}", "currency": currency}
        )
    assert response.status_code == 201, response.text
    merchant_id = response.json()["merchant_id"]
    return merchant_id, stack.infra.token("merchant", merchant_id=merchant_id)
