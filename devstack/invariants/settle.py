"""`settle`: wait until the system is quiet before checking it."""

# Every name put into SQL text here is a schema of SERVICES or a constant of the code, never input.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import nats

from devstack.invariants.sources import _connect_nats, _durables, _schemas


async def settle(
    *, database_url: str, nats_url: str, namespace: str, timeout: float = 60.0, quiet_s: float = 0.5
) -> None:
    """Wait until every outbox row is published and every durable consumer of the namespace has nothing pending and
    nothing unacked, with no outbox row written and no message delivered for `quiet_s`; TimeoutError naming what is
    still behind otherwise. A database or NATS that is away meanwhile counts as behind, not as a failure."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    conn: asyncpg.Connection | None = None
    nc: Any = None
    quiet_since: float | None = None
    last_mark: object = None
    behind: list[str] = []
    try:
        while True:
            try:
                if conn is None or conn.is_closed():
                    conn = await asyncpg.connect(database_url, timeout=5)
                if nc is None or nc.is_closed:
                    nc = await _connect_nats(nats_url)
                behind, mark = await _behind(conn, nc.jetstream(), namespace)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, nats.errors.Error, TimeoutError) as exc:
                behind, mark = [f"unreachable: {type(exc).__name__}: {exc}"], None
                if conn is not None:
                    await _close(conn)
                    conn = None
            now = loop.time()
            if behind or mark != last_mark:
                quiet_since = None if behind else now
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= quiet_s:
                return
            last_mark = mark
            if now > deadline:
                raise TimeoutError(f"not settled within {timeout}s: " + ("; ".join(behind) or "still moving"))
            await asyncio.sleep(0.1)
    finally:
        if conn is not None:
            await _close(conn)
        if nc is not None and not nc.is_closed:
            await nc.close()


async def _close(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), 2)
    except Exception:
        conn.terminate()


async def _behind(conn: asyncpg.Connection, js: Any, namespace: str) -> tuple[list[str], object]:
    """What is still behind, and a mark that changes whenever anything moves (outbox rows, deliveries)."""
    behind: list[str] = []
    mark: list[object] = []
    for schema in sorted(await _schemas(conn)):
        row = await conn.fetchrow(
            f"""SELECT count(*) FILTER (WHERE published_at IS NULL) AS waiting, COALESCE(max(seq), 0) AS last
                FROM "{schema}".outbox"""
        )
        assert row is not None
        if row["waiting"]:
            behind.append(f"{schema} outbox: {row['waiting']} unpublished")
        mark.append((schema, row["last"], row["waiting"]))
    for durable, (_, info) in sorted((await _durables(js, namespace)).items()):
        if info.num_pending or info.num_ack_pending:
            behind.append(f"{durable}: {info.num_pending} pending, {info.num_ack_pending} unacked")
        mark.append((durable, info.delivered.stream_seq, info.ack_floor.stream_seq))
    return behind, tuple(mark)
