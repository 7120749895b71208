"""Transactional outbox: events are rows written with the state change; a relay publishes them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

import asyncpg
import msgspec
from opentelemetry import context
from opentelemetry.trace import SpanKind, StatusCode

from libs import faults
from libs.bus.nats import Bus, raise_if_cancelled
from libs.contracts import Event
from libs.db import Database
from libs.telemetry import capture_headers, context_from, names

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "liveloop_outbox"


async def add_events(conn: asyncpg.Connection, *events: Event) -> None:
    """Record events in the caller's transaction, with the current trace context and baggage."""
    if not events:
        return
    headers = capture_headers()
    await conn.executemany(
        "INSERT INTO outbox (event_id, subject, payload, headers) VALUES ($1, $2, $3, $4)",
        [(e.event_id, e.SUBJECT, msgspec.json.encode(e), headers) for e in events],
    )
    # Delivered only if the transaction commits: wakes the relay without polling delay.
    await conn.execute(f"NOTIFY {NOTIFY_CHANNEL}")
    if faults.ARMED:
        faults.note_events(conn)


def outbox_insert(first: int, *, only_with: str | None = None) -> str:
    """SQL that records events inside a caller's larger statement (as a data-modifying CTE), for hot paths where
    every round trip counts; its four parameters, from `$first`, are `outbox_params(conn, ...)`. With `only_with`
    (the name of another CTE of the statement, of at most one row) the events are written only if it has a row.
    The statement must also select `OUTBOX_NOTIFY` (a CTE that only selects would not run), as `add_events`
    notifies."""
    ids, subjects, payloads, headers = (f"${first + i}" for i in range(4))
    source = f"{only_with}, " if only_with else ""
    return f"""INSERT INTO outbox (event_id, subject, payload, headers)
               SELECT e.event_id, e.subject, e.payload, {headers}::jsonb
               FROM {source}unnest({ids}::uuid[], {subjects}::text[], {payloads}::bytea[])
                    AS e(event_id, subject, payload)"""  # noqa: S608 - parameter numbers and a CTE name only


# Wakes the relay when the transaction commits (NOTIFY as a function, for use inside a statement).
OUTBOX_NOTIFY = f"pg_notify('{NOTIFY_CHANNEL}', '')"


def outbox_params(conn: asyncpg.Connection, events: Sequence[Event]) -> list[object]:
    """The parameters of `outbox_insert` for events (with the current trace context and baggage, as `add_events`)."""
    if faults.ARMED and events:
        faults.note_events(conn)
    return [
        [e.event_id for e in events],
        [e.SUBJECT for e in events],
        [msgspec.json.encode(e) for e in events],
        capture_headers(),
    ]


class Relay:
    """Publishes unpublished outbox rows, oldest batch first; safe with several instances (SKIP LOCKED)."""

    def __init__(self, db: Database, bus: Bus, *, batch: int = 200, interval_s: float = 0.2) -> None:
        self.db = db
        self.bus = bus
        self._swept = False  # a sweep worked since the relay (re)started: its next failure backs off from the start
        self.batch = batch
        self.interval_s = interval_s
        self._wake = asyncio.Event()
        meter = bus.telemetry.meter
        self._published = meter.create_counter(names.OUTBOX_PUBLISHED)
        self._backlog = meter.create_gauge(names.OUTBOX_BACKLOG, unit="{event}", description="Unpublished outbox rows")
        self._oldest_age = meter.create_gauge(
            names.OUTBOX_OLDEST_AGE, unit="s", description="Age of the oldest unpublished outbox row"
        )
        bus.telemetry.probe("outbox", self.observe)

    async def observe(self) -> None:
        """Set the backlog gauges: one index scan of at most BACKLOG_CAP unpublished rows."""
        row = await self.db.fetchrow(
            """SELECT count(*) AS backlog, COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0) AS age
               FROM (SELECT created_at FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1) AS waiting""",
            names.BACKLOG_CAP,
        )
        assert row is not None
        self._backlog.set(row["backlog"])
        self._oldest_age.set(max(float(row["age"]), 0.0))

    def kick(self) -> None:
        """Look for new rows now."""
        self._wake.set()

    async def run(self) -> None:
        """Publish forever; back off while NATS or Postgres is unreachable, never drop a row."""
        backoff = self.interval_s
        while True:
            self._swept = False
            try:
                await self._listen_and_publish()
            except Exception:  # the relay must outlive any outage; CancelledError is not an Exception
                if self._swept:
                    # It worked again since the last failure: a new failure, not the same outage going on.
                    backoff = self.interval_s
                log.exception("outbox relay: stopped on an error; restarting in %.2fs", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _listen_and_publish(self) -> None:
        listener = await self.db.pool.acquire()
        wake = lambda *_: self._wake.set()  # noqa: E731
        try:
            await listener.add_listener(NOTIFY_CHANNEL, wake)
            backoff = self.interval_s
            while True:
                raise_if_cancelled()
                # Cleared before the sweep, so a NOTIFY arriving during it wakes the next one at once.
                self._wake.clear()
                sent, failed = await self.publish_pending()
                self._swept = True
                if failed:
                    backoff = min(backoff * 2, 5.0)
                    await asyncio.sleep(backoff)
                    continue
                backoff = self.interval_s
                if sent >= self.batch:
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s * 5)
        finally:
            # A broken connection cannot be cleaned; the pool discards it on release either way.
            with contextlib.suppress(Exception):
                await listener.remove_listener(NOTIFY_CHANNEL, wake)
            await self.db.pool.release(listener)

    async def publish_pending(self) -> tuple[int, bool]:
        """One sweep: publish what is waiting. Returns (published, hit_an_error)."""
        async with self.db.transaction() as conn:
            rows = await conn.fetch(
                """SELECT seq, event_id, subject, payload, headers FROM outbox
                   WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED""",
                self.batch,
            )
            # Published concurrently: JetStream acks come back pipelined instead of one round trip per row.
            # Consumers never rely on order across events (see ARCHITECTURE, Messaging), so none is lost.
            errors = await asyncio.gather(*(self._publish(row) for row in rows))
            done = [row["seq"] for row, error in zip(rows, errors, strict=True) if error is None]
            failures = [(row["seq"], error) for row, error in zip(rows, errors, strict=True) if error is not None]
            if failures:
                await conn.executemany(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1", failures
                )
            if faults.ARMED and done:
                faults.hit("relay.published")
            if done:
                await conn.execute("UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", done)
                self._published.add(len(done))
            return len(done), bool(failures)

    async def _publish(self, row: asyncpg.Record) -> str | None:
        """Publish one row in the trace of the transaction that wrote it; the error text if it failed."""
        token = context.attach(context_from(row["headers"]))
        try:
            with self.bus.telemetry.tracer.start_as_current_span(
                f"{row['subject']} publish",
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": row["subject"],
                    "messaging.message.id": str(row["event_id"]),
                },
            ) as span:
                try:
                    # Headers now describe the publish span, so consumers continue from it.
                    headers = capture_headers()
                    await self.bus.publish_event(row["subject"], row["payload"], headers, str(row["event_id"]))
                except Exception as exc:
                    span.set_status(StatusCode.ERROR, str(exc))
                    return f"{type(exc).__name__}: {exc}"[:500]
                return None
        finally:
            context.detach(token)
