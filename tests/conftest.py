"""Session fixtures: real PostgreSQL, NATS JetStream and localstripe (embedded when not reachable)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from devstack import embedded
from tests.harness import Infra, fresh_infra


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[str, str, str]]:
    """(admin Postgres DSN, NATS URL, localstripe base URL) for the session."""
    started: list = []
    workdir = Path(tempfile.mkdtemp(prefix="liveloop-test-"))
    try:
        if embedded.tcp_reachable("127.0.0.1", 5432):
            pg_dsn = "postgresql://postgres@127.0.0.1:5432/postgres"
        else:
            pg = embedded.start_postgres(workdir / "pg")
            started.append(pg)
            pg_dsn = pg.dsn
        if embedded.tcp_reachable("127.0.0.1", 4222):
            nats_url = "nats://127.0.0.1:4222"
        else:
            nats = embedded.start_nats(workdir / "nats", embedded.free_port())
            started.append(nats)
            nats_url = nats.url
        stripe = embedded.start_localstripe(embedded.free_port())
        started.append(stripe)
        yield pg_dsn, nats_url, stripe.url
    finally:
        for proc in reversed(started):
            proc.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def infra(servers: tuple[str, str, str]) -> AsyncIterator[Infra]:
    """Each test module gets its own database and namespace: its services see nobody else's events."""
    async with fresh_infra(servers) as fresh:
        yield fresh
