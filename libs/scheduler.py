"""Deadlines as stored due-jobs, run by a poller that survives restarts and scales out (leases, SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import asyncpg
from opentelemetry import baggage, context, trace

from libs import faults
from libs.clock import Clock
from libs.db import Database
from libs.telemetry import Telemetry, capture_headers, context_from, link_to, names

log = logging.getLogger(__name__)

JobHandler = Callable[[asyncpg.Connection, str, dict], Awaitable[None]]

# How long a claim holds a job before another runner may take it, unless the runner renews it (every third of it)
# while the job waits for its turn or runs: a job of a killed process runs again within about this long, and a long
# job of a live process is never run twice.
LEASE_S = 10.0


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


async def schedule_many(
    conn: asyncpg.Connection, kind: str, jobs: Sequence[tuple[str, datetime]], payload: dict | None = None
) -> None:
    """`schedule` for many (key, due_at) of one kind in one statement (e.g. a flash sale's batch of orders)."""
    if not jobs:
        return
    await conn.execute(
        """INSERT INTO due_jobs (kind, key, due_at, payload, headers)
           SELECT $1, j.key, j.due_at, $4, $5 FROM unnest($2::text[], $3::timestamptz[]) AS j(key, due_at)
           ON CONFLICT (kind, key) DO NOTHING""",
        kind,
        [key for key, _ in jobs],
        [due_at for _, due_at in jobs],
        payload or {},
        capture_headers(),
    )


async def cancel(conn: asyncpg.Connection, kind: str, key: str) -> None:
    """Drop a job that is no longer needed (e.g. the order got paid)."""
    await conn.execute("DELETE FROM due_jobs WHERE kind = $1 AND key = $2", kind, key)


async def reschedule(conn: asyncpg.Connection, kind: str, key: str, due_at: datetime) -> None:
    """Move a job to a new time; from inside its own handler this keeps it instead of completing it."""
    await conn.execute(
        "UPDATE due_jobs SET due_at = $3, locked_until = NULL WHERE kind = $1 AND key = $2", kind, key, due_at
    )


class Scheduler:
    """Runs due jobs: claimed with a lease, each in its own transaction that deletes it with its effect."""

    def __init__(
        self,
        db: Database,
        telemetry: Telemetry,
        clock: Clock,
        handlers: dict[str, JobHandler],
        *,
        interval_s: float = 0.5,
        batch: int = 50,
        lease_s: float = LEASE_S,
        concurrency: int = 4,
    ) -> None:
        self.db = db
        self.telemetry = telemetry
        self.clock = clock
        self.handlers = handlers
        self.interval_s = interval_s
        self.batch = batch
        self.lease = timedelta(seconds=lease_s)
        self.concurrency = concurrency
        meter = telemetry.meter
        self._due = meter.create_gauge(names.JOBS_DUE, unit="{job}", description="Due jobs not done, by kind")
        self._oldest_due_age = meter.create_gauge(
            names.JOBS_OLDEST_DUE_AGE, unit="s", description="How long the oldest due job of a kind has waited"
        )
        # Kinds reported once keep being reported (at zero once drained), so a gauge never sticks at a stale value.
        self._kinds_seen: set[str] = set(handlers)
        telemetry.probe("jobs", self.observe)

    async def observe(self) -> None:
        """Set the due-job gauges by the clock's now: one index scan of at most BACKLOG_CAP due rows."""
        now = self.clock.now()
        rows = await self.db.fetch(
            """SELECT kind, count(*) AS due, min(due_at) AS oldest
               FROM (SELECT kind, due_at FROM due_jobs WHERE due_at <= $1 ORDER BY due_at LIMIT $2) AS due
               GROUP BY kind""",
            now,
            names.BACKLOG_CAP,
        )
        found = {row["kind"]: row for row in rows}
        self._kinds_seen.update(found)
        for kind in self._kinds_seen:
            row = found.get(kind)
            labels = {names.JOB_KIND: kind}
            self._due.set(row["due"] if row else 0, labels)
            self._oldest_due_age.set(max((now - row["oldest"]).total_seconds(), 0.0) if row else 0.0, labels)

    async def run(self) -> None:
        """Poll forever; a failing database delays jobs, never ends the loop."""
        backoff = self.interval_s
        while True:
            try:
                ran = await self.run_due()
                backoff = self.interval_s
            except Exception:  # the loop must outlive any outage; CancelledError is not an Exception
                log.exception("scheduler: could not run due jobs; retrying in %.1fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            if ran < self.batch:
                await asyncio.sleep(self.interval_s)

    async def run_due(self) -> int:
        """Claim every job due by the clock's now and run them; returns how many were claimed."""
        now = self.clock.now()
        jobs = await self.db.fetch(
            """UPDATE due_jobs SET locked_until = $1 + $4::interval
               WHERE id IN (
                   SELECT id FROM due_jobs
                   WHERE due_at <= $1 AND kind = ANY($2::text[]) AND (locked_until IS NULL OR locked_until <= $1)
                   ORDER BY due_at LIMIT $3 FOR UPDATE SKIP LOCKED)
               RETURNING id, kind, key, due_at, payload, headers, attempts""",
            now,
            list(self.handlers),
            self.batch,
            self.lease,
        )
        if not jobs:
            return 0
        gate = asyncio.Semaphore(self.concurrency)
        # Claimed and not finished (waiting for the gate or running): the leases the heartbeat renews.
        held = {job["id"]: job["due_at"] for job in jobs}

        async def one(job: asyncpg.Record) -> None:
            try:
                async with gate:
                    await self._run_one(job)
            finally:
                held.pop(job["id"], None)

        heartbeat = asyncio.create_task(self._renew_leases(held))
        try:
            await asyncio.gather(*(one(job) for job in sorted(jobs, key=lambda j: j["due_at"])))
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
        return len(jobs)

    async def _renew_leases(self, held: dict[int, datetime]) -> None:
        """Every third of the lease, push the lease of each job still held; never fails the batch.

        Only a row still as claimed (same `due_at`, still leased) is renewed: a job its handler rescheduled, or one
        that failed and was pushed back, is not held again. Rows a job's own transaction has locked are skipped, not
        waited for (that transaction decides them, and no other runner can claim a locked row meanwhile).
        """
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            if not held:
                continue
            ids, due = list(held), list(held.values())
            try:
                await self.db.execute(
                    """UPDATE due_jobs SET locked_until = $3::timestamptz + $4::interval
                       WHERE id IN (
                           SELECT d.id FROM due_jobs d
                           JOIN unnest($1::bigint[], $2::timestamptz[]) AS h(id, due_at)
                             ON d.id = h.id AND d.due_at = h.due_at
                           WHERE d.locked_until IS NOT NULL
                           FOR UPDATE OF d SKIP LOCKED)""",
                    ids,
                    due,
                    self.clock.now(),
                    self.lease,
                )
            except Exception:  # a missed renewal risks a second run, which every handler tolerates; keep trying
                log.warning("scheduler: could not renew the leases of %d jobs", len(ids), exc_info=True)

    async def _run_one(self, job: asyncpg.Record) -> None:
        # The job runs in a fresh trace linked to the one that scheduled it; baggage carries over.
        stored = context_from(job["headers"])
        ctx = context.Context()
        for key, value in baggage.get_all(stored).items():
            ctx = baggage.set_baggage(key, value, ctx)
        token = context.attach(ctx)
        try:
            with self.telemetry.tracer.start_as_current_span(
                f"job {job['kind']}", links=link_to(job["headers"]), attributes={names.JOB_KIND: job["kind"]}
            ) as span:
                try:
                    async with self.db.transaction() as conn:
                        await self.handlers[job["kind"]](conn, job["key"], job["payload"])
                        if faults.ARMED:
                            faults.hit("job.applied")
                        # Unless the handler moved it (reschedule) or someone cancelled it meanwhile.
                        await conn.execute(
                            "DELETE FROM due_jobs WHERE id = $1 AND due_at = $2", job["id"], job["due_at"]
                        )
                except Exception as exc:  # retry later with backoff; never lose the job
                    span.record_exception(exc)
                    span.set_status(trace.StatusCode.ERROR, str(exc))
                    log.exception("job %s %s failed (attempt %d)", job["kind"], job["key"], job["attempts"] + 1)
                    delay = timedelta(seconds=min(2 ** job["attempts"], 300))
                    await self.db.execute(
                        """UPDATE due_jobs
                           SET attempts = attempts + 1, last_error = $3, due_at = $4, locked_until = NULL
                           WHERE id = $1 AND due_at = $2""",
                        job["id"],
                        job["due_at"],
                        f"{type(exc).__name__}: {exc}"[:1000],
                        self.clock.now() + delay,
                    )
        finally:
            context.detach(token)
