"""What the bus tests share: a bus in a namespace of its own, background loops, a sample event."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from devstack.embedded import free_port
from libs.bus import Bus
from libs.contracts import StockChanged
from libs.db import Database
from libs.settings import Settings
from libs.telemetry import Telemetry, add_exporter
from libs.web.app import ServiceSpec, build_app
from tests.harness import Infra, ServedApp


@dataclass
class Env:
    """A test's database (the module's scratch schema) and bus, with the bus's telemetry and finished spans."""

    db: Database
    bus: Bus
    telemetry: Telemetry
    spans: InMemorySpanExporter


async def open_bus(url: str, namespace: str) -> tuple[Bus, InMemorySpanExporter]:
    """A connected bus with its streams, whose spans land in the returned exporter."""
    telemetry = Telemetry("test")
    spans = InMemorySpanExporter()
    add_exporter(telemetry, spans)
    bus = await Bus.connect(url, namespace, telemetry)
    await bus.ensure_streams()
    return bus, spans


async def drop_streams(bus: Bus) -> None:
    """Leave the shared NATS server as we found it."""
    with contextlib.suppress(Exception):
        names: list[str] = []
        while page := await bus.js.streams_info(offset=len(names)):
            names += [info.config.name or "" for info in page]
        for name in names:
            if name.startswith(f"{bus.namespace}_"):
                await bus.js.delete_stream(name)


@contextlib.asynccontextmanager
async def running(*loops: Coroutine[Any, Any, None]) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Run background loops (relays, consumers) for the block; a loop that died on its own fails the test."""
    tasks = [asyncio.create_task(loop) for loop in loops]
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


def stock_event() -> StockChanged:
    return StockChanged(
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        merchant_id=str(uuid.uuid4()),
        stock_on_hand=10,
        stock_reserved=2,
        stock_available=8,
    )


@contextlib.asynccontextmanager
async def served_routes(infra: Infra, name: str, routes: list[Any], migrations: Path) -> AsyncIterator[ServedApp]:
    """A tiny service of `routes` built by `build_app` (its own scratch schema, `migrations`), served on a free port."""
    spec = ServiceSpec(
        name=name,
        schema=f"t_{name}_{uuid.uuid4().hex[:10]}",
        settings=Settings,
        migrations=migrations,
        routes=routes,
    )
    served = ServedApp(name, build_app(spec, infra.settings(name), telemetry=Telemetry(name)), free_port())
    await served.start()
    try:
        yield served
    finally:
        await served.stop()
