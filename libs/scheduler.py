"""Deadlines as stored due-jobs, run by a poller that survives restarts and scales out (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import context

from libs.clock import Clock
from libs.db import Database
from libs.telemetry import Telemetry, capture_headers, context_from, link_to, names

log = logging.getLogger(__name__)

JobHandler = Callable[[asyncpg.Connection, str, dict], Awaitable[None]]


async def schedule(
    conn: asyncpg.Connection, kind: str, key: str, due_at: datetime, payload: dict | None = None
) -> None:
    """Store a job in the caller's transaction; a second one with the same (kind, key) is ignored."""
    await conn.execute(
        """INSERT INTO due_jobs (kind, key, due_at, payload, headers) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (kind, key) DO NOTHING""",
        kind,
        key,
        due_at,
        payload or {},
        capture_headers(),
    )


async def cancel(conn: asyncpg.Connection, kind: str, key: str) -> None:
    """Drop a job that is no longer needed (e.g. the order got paid)."""
    await conn.execute("DELETE FROM due_jobs WHERE kind = $1 AND key = $2", kind, key)


class Scheduler:
    """Runs due jobs: each in its own savepoint, deleted in the same transaction as its effect."""

    def __init__(
        self,
        db: Database,
        telemetry: Telemetry,
        clock: Clock,
        handlers: dict[str, JobHandler],
        *,
        interval_s: float = 0.5,
        batch: int = 100,
    ) -> None:
        self.db = db
        self.telemetry = telemetry
        self.clock = clock
        self.handlers = handlers
        self.interval_s = interval_s
        self.batch = batch

    async def run(self) -> None:
        """Poll forever."""
        while True:
            try:
                ran = await self.run_due()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("scheduler: database unavailable: %s", exc)
                ran = 0
            if ran < self.batch:
                await asyncio.sleep(self.interval_s)

    async def run_due(self) -> int:
        """Run every job due by the clock's now; returns how many were attempted."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                """SELECT id, kind, key, payload, headers, attempts FROM due_jobs
                   WHERE due_at <= $1 AND kind = ANY($2::text[])
                   ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
                now,
                list(self.handlers),
                self.batch,
            )
            for row in rows:
                await self._run_one(conn, row, now)
        return len(rows)

    async def _run_one(self, conn: asyncpg.Connection, row: asyncpg.Record, now: datetime) -> None:
        # The job runs in a fresh trace linked to the one that scheduled it; baggage carries over.
        stored = context_from(row["headers"])
        from opentelemetry import baggage, trace

        ctx = context.Context()
        for key, value in baggage.get_all(stored).items():
            ctx = baggage.set_baggage(key, value, ctx)
        token = context.attach(ctx)
        try:
            with self.telemetry.tracer.start_as_current_span(
                f"job {row['kind']}", links=link_to(row["headers"]), attributes={names.JOB_KIND: row["kind"]}
            ) as span:
                try:
                    async with conn.transaction():
                        await self.handlers[row["kind"]](conn, row["key"], row["payload"])
                        await conn.execute("DELETE FROM due_jobs WHERE id = $1", row["id"])
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(trace.StatusCode.ERROR, str(exc))
                    log.exception("job %s %s failed", row["kind"], row["key"])
                    delay = min(2 ** row["attempts"], 300)
                    await conn.execute(
                        "UPDATE due_jobs SET attempts = attempts + 1, last_error = $2, due_at = $3 WHERE id = $1",
                        row["id"],
                        f"{type(exc).__name__}: {exc}"[:1000],
                        now + timedelta(seconds=delay),
                    )
        finally:
            context.detach(token)
