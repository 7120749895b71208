"""What integration tests of every service share: the services a test module declares, and its database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from tests.harness import Infra, Stack


@pytest.fixture(scope="module")
def stack_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    """The overrides every service of the module's `stack` gets: the module's `SETTINGS`. A module whose settings
    depend on another fixture (a stand-in server's URL, say) overrides this fixture instead."""
    return dict(getattr(request.module, "SETTINGS", {}))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(
    infra: Infra, stack_settings: dict[str, object], request: pytest.FixtureRequest
) -> AsyncIterator[Stack]:
    """The services the test module names, served over HTTP on the module's own database and NATS namespace.

    The module says which with `SERVICES = ("shop", "orders")`; optionally `SETTINGS = {...}` (overrides every
    service started gets, each known to at least one of them; see `stack_settings`) and
    `INSTANCES = {"live2": ("live", {...})}` (more instances of a service, reachable by their key, with overrides of
    their own). Each instance's metrics are in `stack.metrics[key]`.
    """
    module = request.module
    services = getattr(module, "SERVICES", None)
    if not services:
        raise pytest.UsageError(f"{module.__name__} uses the `stack` fixture but names no SERVICES")
    running = Stack(infra)
    try:
        await running.start(*services, **stack_settings)
        for key, (service, overrides) in getattr(module, "INSTANCES", {}).items():
            await running.start_instance(service, key, **overrides)
        yield running
    finally:
        await running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the module's database, to read what a service wrote (its tables, its outbox)."""
    conn = await asyncpg.connect(infra.database_url)
    yield conn
    await conn.close()
