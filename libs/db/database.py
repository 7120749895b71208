"""Pool and transaction helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec

from libs import faults

# Failures of the surroundings (the database, the network), not of a request, an event or the code handling it: a
# consumer naks them with back-off instead of counting them towards dead-lettering, and an HTTP request answers them
# 503 "nothing was done, retry" instead of 500 (libs.web.problems).
TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, or the socket file gone while Postgres restarts
    TimeoutError,
    asyncpg.InterfaceError,  # connection closed under us
    asyncpg.exceptions.InternalClientError,  # a pooled connection the server closed, used again
    asyncpg.exceptions.PostgresConnectionError,  # class 08
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, out of memory
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


def is_transient(exc: BaseException) -> bool:
    """True for failures of the surroundings (database, network), not of the event, the request or the logic."""
    return isinstance(exc, TRANSIENT)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out through msgspec: fast, and Structs encode without a detour.
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: msgspec.json.encode(value).decode(),
        decoder=msgspec.json.decode,
        schema="pg_catalog",
    )


class Database:
    """A service's pool; every connection's search_path is the service's own schema."""

    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self.pool = pool
        self.schema = schema

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside one READ COMMITTED transaction, committed on clean exit."""
        async with self.pool.acquire() as conn:
            if faults.ARMED:
                faults.forget_events(conn)
            async with conn.transaction():
                yield conn
            if faults.ARMED and faults.forget_events(conn):
                faults.hit("db.committed")

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]:
        return await self.pool.fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None:
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> object:
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: object) -> str:
        return await self.pool.execute(query, *args)

    async def ping(self) -> bool:
        """True when the database answers."""
        try:
            async with self.pool.acquire(timeout=2) as conn:
                return await conn.fetchval("SELECT 1") == 1
        except Exception:
            return False

    async def close(self) -> None:
        await self.pool.close()


async def connect(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10) -> Database:
    """Open a pool whose connections see `schema` first."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"search_path": f"{schema},public", "application_name": f"liveloop-{schema}"},
    )
    return Database(pool, schema)
