"""What the platform's integration tests share: a scratch schema with the platform tables, and a bus of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from libs.db import Database, connect
from tests.harness import Infra, platform_schema
from tests.integration.libs.support import Env, drop_streams, open_bus


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def schema(infra: Infra, request: pytest.FixtureRequest) -> str:
    """A scratch schema of the module: the platform tables (outbox, inbox, due_jobs, ...), plus the statements the
    module lists in `SCRATCH_DDL` (e.g. an `effects` table its handlers write to)."""
    return await platform_schema(infra, "t_libs", *getattr(request.module, "SCRATCH_DDL", ()))


@pytest_asyncio.fixture(loop_scope="session")
async def scratch_db(infra: Infra, schema: str) -> AsyncIterator[Database]:
    """A pool on the module's scratch schema."""
    database = await connect(infra.database_url, schema)
    yield database
    await database.close()


@pytest_asyncio.fixture(loop_scope="session")
async def env(scratch_db: Database, infra: Infra) -> AsyncIterator[Env]:
    """The module's schema (outbox emptied) and a bus in a namespace of its own: fresh streams, consumers, spans."""
    await scratch_db.execute("TRUNCATE outbox")
    bus, spans = await open_bus(infra.nats_url, f"{infra.namespace}x{uuid.uuid4().hex[:8]}")
    yield Env(scratch_db, bus, bus.telemetry, spans)
    await drop_streams(bus)
    await bus.close()
