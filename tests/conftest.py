"""Session fixtures: real PostgreSQL, NATS JetStream and localstripe (embedded when not reachable)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from devstack import embedded
from tests.harness import Infra, Stack


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


@asynccontextmanager
async def _fresh_infra(servers: tuple[str, str, str]) -> AsyncIterator[Infra]:
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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def infra(servers: tuple[str, str, str]) -> AsyncIterator[Infra]:
    """Each test module gets its own database and namespace: its services see nobody else's events."""
    async with _fresh_infra(servers) as fresh:
        yield fresh


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(servers: tuple[str, str, str]) -> AsyncIterator[Stack]:
    """All five services, served over HTTP on loopback, shared by the end-to-end tests."""
    async with _fresh_infra(servers) as fresh:
        running = Stack(fresh)
        await running.start()
        try:
            yield running
        finally:
            await running.stop()
