"""Micro-batched consumers: many events folded per transaction, each exactly once; a poison event is dead-lettered
alone while its batch-mates are applied; the after-commit step runs once per committed batch."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec
from nats.js.api import ConsumerInfo
from nats.js.errors import NotFoundError
from opentelemetry import trace

from libs.bus import AfterCommit, Batch, Bus, ConsumerRunner, Delivery, Subscription
from libs.contracts import Event, StockChanged, stream_for
from libs.db import Database
from libs.telemetry import capture_headers, names
from tests.harness import Infra, eventually
from tests.integration.libs.support import Env, open_bus, running, stock_event

SUBJECT = StockChanged.SUBJECT
STREAM = stream_for(SUBJECT)
SCRATCH_DDL = ("CREATE TABLE effects (consumer text NOT NULL, event_id uuid NOT NULL UNIQUE)",)


def durable(purpose: str) -> str:
    return f"test__{purpose}_{uuid.uuid4().hex[:8]}"


async def publish(bus: Bus, event: Event | bytes, msg_id: str | None = None, headers: dict | None = None) -> None:
    payload = event if isinstance(event, bytes) else msgspec.json.encode(event)
    fallback = event.event_id if isinstance(event, Event) else str(uuid.uuid4())
    await bus.publish_event(SUBJECT, payload, headers or {}, msg_id or fallback)


async def drained(bus: Bus, name: str) -> ConsumerInfo | None:
    try:
        info = await bus.js.consumer_info(bus.stream(STREAM), name)
    except NotFoundError:
        return None
    return info if info.num_pending == 0 and info.num_ack_pending == 0 else None


async def effects(db: Database, consumer: str) -> list[str]:
    rows = await db.fetch("SELECT event_id::text FROM effects WHERE consumer = $1", consumer)
    return sorted(row[0] for row in rows)


def folding(consumer: str, batches: list[list[str]], committed: list[int], *, poison: str | None = None):
    """A fold writing one `effects` row per fresh event (failing on `poison`), whose after-commit records the size."""

    async def fold(conn: asyncpg.Connection, deliveries: list[Delivery]) -> AfterCommit:
        ids = [d.event.event_id for d in deliveries]
        batches.append(ids)
        await conn.execute("INSERT INTO effects (consumer, event_id) SELECT $1, unnest($2::uuid[])", consumer, ids)
        if poison in ids:
            raise ValueError("poison")

        async def after() -> None:
            committed.append(len(ids))

        return after

    return fold


async def test_a_backlog_is_folded_in_batches_each_event_once_under_redelivery(env: Env) -> None:
    events = [stock_event() for _ in range(40)]
    for event in events:
        await publish(env.bus, event)
    # The first ten again under new message ids, as a re-published outbox row would arrive.
    for event in events[:10]:
        await publish(env.bus, event, str(uuid.uuid4()))
    name = durable("batch")
    batches: list[list[str]] = []
    committed: list[int] = []
    sub = Subscription(name, (SUBJECT,), batch=Batch(folding(name, batches, committed), size=16))
    runner = ConsumerRunner(env.db, env.bus, [sub])

    async with running(runner.run()):
        info = await eventually(lambda: drained(env.bus, name))

    assert info.delivered.stream_seq == 50
    assert await effects(env.db, name) == sorted(e.event_id for e in events)
    assert await env.db.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", name) == 40
    assert max(len(b) for b in batches) > 1  # folded many per transaction
    assert all(len(b) <= 16 for b in batches)
    assert sorted(committed) == sorted(len(b) for b in batches)  # after-commit once per committed batch
    assert sum(committed) == 40


async def test_batch_committed_but_not_acked_is_redelivered_without_a_second_effect(env: Env, infra: Infra) -> None:
    events = [stock_event() for _ in range(6)]
    for event in events:
        await publish(env.bus, event)
    name = durable("crash")
    batches: list[list[str]] = []
    committed: list[int] = []
    sub = Subscription(name, (SUBJECT,), batch=Batch(folding(name, batches, committed), size=10))

    dying_bus, _ = await open_bus(infra.nats_url, env.bus.namespace)
    dying = ConsumerRunner(env.db, dying_bus, [sub], ack_wait_s=1)
    psub = await dying.subscribe(sub)
    msgs: list = []
    while len(msgs) < 6:
        msgs += await psub.fetch(10, timeout=2)
    assert await dying.apply_batch(sub, msgs) == 6  # committed ...
    await dying_bus.nc.close()  # ... and gone before acking

    fresh = ConsumerRunner(env.db, env.bus, [sub], ack_wait_s=1)
    async with running(fresh.run()):
        info = await eventually(lambda: drained(env.bus, name), timeout=10)

    assert info.delivered.consumer_seq >= 12  # every message really came back
    assert await effects(env.db, name) == sorted(e.event_id for e in events)
    assert committed == [6]  # the redelivered batch found only duplicates: nothing folded, nothing announced


async def test_poison_event_is_dead_lettered_alone_while_its_batch_mates_are_applied(env: Env) -> None:
    events = [stock_event() for _ in range(12)]
    poison = events[5]
    for event in events:
        await publish(env.bus, event)
    await publish(env.bus, b"{not json")
    name = durable("poison")
    batches: list[list[str]] = []
    committed: list[int] = []
    fold = folding(name, batches, committed, poison=poison.event_id)
    runner = ConsumerRunner(
        env.db, env.bus, [Subscription(name, (SUBJECT,), batch=Batch(fold, size=50))], max_deliver=3
    )

    async with running(runner.run()):
        await eventually(
            lambda: env.db.fetchval("SELECT count(*) = 2 FROM dead_letters WHERE consumer = $1", name), timeout=15
        )
        await eventually(lambda: drained(env.bus, name))

    assert await effects(env.db, name) == sorted(e.event_id for e in events if e is not poison)
    letters = await env.db.fetch("SELECT event_id, deliveries, error FROM dead_letters WHERE consumer = $1", name)
    assert poison.event_id in {row["event_id"] for row in letters}
    assert all(row["deliveries"] == 3 for row in letters)
    assert sum(committed) == 11  # each good event's after-commit ran once; the poison's never
    assert await env.db.fetchval("SELECT count(*) FROM inbox WHERE consumer = $1", name) == 11


async def test_batch_span_links_to_every_producer_and_counts_each_event(env: Env) -> None:
    tracer = env.telemetry.tracer
    producers = []
    events = [stock_event() for _ in range(5)]
    for event in events:
        with tracer.start_as_current_span("producer") as span:
            producers.append(span.get_span_context())
            await publish(env.bus, event, headers=capture_headers())
    name = durable("spans")
    batches: list[list[str]] = []
    runner = ConsumerRunner(env.db, env.bus, [Subscription(name, (SUBJECT,), batch=Batch(folding(name, batches, [])))])
    # Fetch the whole backlog as one batch, as the runner's loop would.
    psub = await runner.subscribe(runner.subscriptions[0])
    msgs = []
    while len(msgs) < 5:
        msgs += await psub.fetch(5, timeout=2)
    await runner.handle_batch(runner.subscriptions[0], msgs)
    await asyncio.sleep(0)

    spans = [s for s in env.spans.get_finished_spans() if s.attributes.get(names.CONSUMER) == name]
    assert len(spans) == 1
    assert spans[0].kind == trace.SpanKind.CONSUMER
    assert spans[0].name == f"{SUBJECT} process"
    assert spans[0].attributes["messaging.batch.message_count"] == 5
    assert {link.context.span_id for link in spans[0].links} == {p.span_id for p in producers}
    assert await effects(env.db, name) == sorted(e.event_id for e in events)
    assert await drained(env.bus, name) is not None
