"""The one way a service becomes a Litestar app: routes, lifespan, plumbing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.types import Scope, Send

from libs.auth import VerifiedTokens
from libs.bus import Bus, ConsumerRunner, Relay, Responder, Subscription
from libs.clock import Clock, SystemClock
from libs.db import connect, migrate
from libs.runtime import Runtime
from libs.scheduler import JobHandler, Scheduler
from libs.settings import Settings, check_secrets, load
from libs.telemetry import METRICS_CONTENT_TYPE, Telemetry
from libs.telemetry.http import AnsweredRequests, HttpMetrics, RouteSpanName, ServerSpans
from libs.web.access_log import QUIET_PATHS, log_access
from libs.web.guards import BearerAuthMiddleware, guard_without_copies
from libs.web.openapi import documented, openapi_config
from libs.web.problems import EXCEPTION_HANDLERS, Problem, send_problem
from libs.web.request_ids import RequestIds, install_request_id_logging

log = logging.getLogger(__name__)
# Path plus query string. No URL of ours comes near it (a cursor is at most 200 characters); uvicorn's HTTP parser
# refuses past 65,535 bytes by itself, with a text/plain 400 we cannot change (docs/ARCHITECTURE.md).
MAX_URL_BYTES = 8192
# No server span for these (path prefixes): probes, scrapes and the API schema say nothing about a user's request.
UNTRACED_PATHS = ("/health", "/ready", "/schema", "/metrics")


@dataclass
class ServiceSpec:
    """Everything that makes one service what it is: the one wiring place (`services/<name>/app.py`)."""

    name: str
    schema: str
    settings: type[Settings]
    migrations: Path
    # The skeleton's entry points, each named for the module that provides it.
    routes: Sequence[Any] = ()
    consumers: Callable[[Runtime], list[Subscription]] = lambda _: []
    jobs: Callable[[Runtime], dict[str, JobHandler]] = lambda _: {}
    rpc: Callable[[Runtime], list[Responder]] = lambda _: []
    # Per-process parts a service keeps on the runtime (a Stripe client, the room feed's hub), started before
    # the rpc servers and background loops, stopped after them.
    on_start: Callable[[Runtime], Awaitable[None]] | None = None
    on_stop: Callable[[Runtime], Awaitable[None]] | None = None
    dependencies: dict[str, Provide] = field(default_factory=dict)
    description: str = ""


class RequestIdMiddleware(RequestIds):
    """Request ids (`libs.web.request_ids`), and a problem+json 414 for a URL past `MAX_URL_BYTES`."""

    async def refuse(self, scope: Scope, send: Send) -> bool:
        if len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"]) > MAX_URL_BYTES:
            too_long = Problem(414, "uri-too-long", f"the URL is longer than {MAX_URL_BYTES} bytes")
            await send_problem(scope, send, too_long)
            return True
        return False


class JsonRequest(Request):
    """Litestar's request, refusing a JSON body nested too deeply to decode as a 400, not a RecursionError's 500.

    Every route's body is decoded through here (`data: SomeStruct`); the purchase middleware and Stripe's webhook,
    which decode by themselves, refuse it themselves.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise Problem(400, "invalid-json", "the JSON body is nested too deeply") from None


@get("/health", include_in_schema=True, tags=["ops"], sync_to_thread=False)
def health() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


# Public like /health (no guard: counts and timings, no data), kept out of traces and of the API schema.
@get("/metrics", include_in_schema=False, tags=["ops"])
async def metrics(runtime: Runtime) -> Response[bytes]:
    """This instance's metrics in Prometheus text format; backlog and lag gauges are read at each scrape."""
    return Response(await runtime.telemetry.scrape(), media_type=METRICS_CONTENT_TYPE)


@get("/ready", tags=["ops"], opt=documented(503))
async def ready(runtime: Runtime) -> dict[str, str]:
    """Database and NATS are reachable, and the background loops (relay, consumers, scheduler) are running."""
    db_ok = await runtime.db.ping() if hasattr(runtime, "db") else False
    nats_ok = await runtime.bus.ping() if hasattr(runtime, "bus") else False
    stopped = [task.get_name() for task in runtime.tasks if task.done()]
    if not (db_ok and nats_ok) or stopped:
        detail = f"database {'up' if db_ok else 'down'}, nats {'up' if nats_ok else 'down'}"
        if stopped:
            detail += f", stopped: {', '.join(stopped)}"
        raise Problem(503, "not-ready", detail)
    return {"status": "ready", "database": "up", "nats": "up"}


def build_app(
    spec: ServiceSpec,
    settings: Settings | None = None,
    *,
    telemetry: Telemetry | None = None,
    clock: Clock | None = None,
) -> Litestar:
    """A Litestar app for `spec`, wired to its database, bus and telemetry (settings from the environment if none)."""
    settings = settings if settings is not None else load(spec.settings, spec.name)
    if not isinstance(settings, spec.settings):
        raise TypeError(f"{spec.name} needs {spec.settings.__name__}, got {type(settings).__name__}")
    check_secrets(settings)
    install_request_id_logging()
    telemetry = telemetry or Telemetry(
        spec.name, otlp_endpoint=settings.otlp_endpoint, sample_ratio=settings.trace_sample_ratio
    )
    runtime = Runtime(settings, telemetry, clock or SystemClock())

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        await migrate(settings.database_url, spec.schema, spec.migrations)
        runtime.db = await connect(
            settings.database_url, spec.schema, min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        runtime.bus = await Bus.connect(
            settings.nats_url,
            settings.namespace,
            telemetry,
            name=f"liveloop-{spec.name}",
            replicas=settings.stream_replicas,
        )
        await runtime.bus.ensure_streams()
        runtime.relay = Relay(runtime.db, runtime.bus, interval_s=settings.relay_interval_s)
        runtime.consumers = ConsumerRunner(
            runtime.db,
            runtime.bus,
            spec.consumers(runtime),
            max_deliver=settings.consumer_max_deliver,
            ack_wait_s=settings.consumer_ack_wait_s,
        )
        runtime.scheduler = Scheduler(
            runtime.db,
            telemetry,
            runtime.clock,
            spec.jobs(runtime),
            interval_s=settings.scheduler_interval_s,
            lease_s=settings.job_lease_s,
        )
        if spec.on_start:
            await spec.on_start(runtime)
        for responder in spec.rpc(runtime):
            await runtime.bus.serve(responder.subject, responder.request_type, responder.handler, queue=responder.queue)
        if settings.run_relay:
            runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name=f"{spec.name}-relay"))
        if settings.run_consumers and runtime.consumers.subscriptions:
            runtime.tasks.append(asyncio.create_task(runtime.consumers.run(), name=f"{spec.name}-consumers"))
        if settings.run_scheduler and runtime.scheduler.handlers:
            runtime.tasks.append(asyncio.create_task(runtime.scheduler.run(), name=f"{spec.name}-scheduler"))
        try:
            yield
        finally:
            for task in runtime.tasks:
                task.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            if spec.on_stop:
                await spec.on_stop(runtime)
            try:
                await runtime.bus.close()
                await runtime.db.close()
            finally:
                # Last: the spans and metrics of everything above leave before the process does (in a thread: an
                # OTLP export is blocking I/O).
                await asyncio.to_thread(telemetry.shutdown)

    tokens = VerifiedTokens(secret=settings.jwt_secret, issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    app = Litestar(
        route_handlers=[health, ready, metrics, *spec.routes],
        dependencies={"runtime": Provide(lambda: runtime, sync_to_thread=False), **spec.dependencies},
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_class=JsonRequest,
        middleware=[RouteSpanName, DefineMiddleware(BearerAuthMiddleware, tokens=tokens)],
        lifespan=[lifespan],
        openapi_config=openapi_config(f"Liveloop {spec.name}", spec.description),
        state=State({"runtime": runtime}),
        # Logging is the process's business (`liveloop serve` configures it, with request ids), not the app's.
        logging_config=None,
        debug=False,
    )
    app.state.runtime = runtime
    guard_without_copies(handler for route in app.routes for handler in getattr(route, "route_handlers", ()))
    # Around everything the app answers, the router's own 404 and 405 included (an app `middleware=` runs only on
    # matched routes): every answer carries a request id, every request is timed once for its metric and access
    # line, no URL is too long, and every request but the probes and the schema has its server span.
    app.asgi_handler = RequestIdMiddleware(
        AnsweredRequests(
            ServerSpans(app.asgi_handler, telemetry.tracer, exclude=UNTRACED_PATHS),
            [HttpMetrics(telemetry.meter), log_access],
            quiet=QUIET_PATHS,
        )
    )
    return app


__all__ = ["ServiceSpec", "build_app"]
