"""Idempotent inbox: each event's effect happens once, survives a crash before the ack, and poison is dead-lettered."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import asyncpg
import msgspec
from nats.js.api import ConsumerInfo, RawStreamMsg
from nats.js.errors import NotFoundError

from libs.bus import Bus, ConsumerRunner, Subscription
from libs.bus.nats import DLQ_STREAM
from libs.contracts import Event, ProductPublished, ProductUpdated, StockChanged, stream_for
from libs.db import Database, connect
from libs.telemetry import names
from tests.harness import Infra, eventually, platform_schema
from tests.integration.libs.support import Env, open_bus, running, stock_event

SUBJECT = StockChanged.SUBJECT
STREAM = stream_for(SUBJECT)
# Handlers of these tests write here.
SCRATCH_DDL = ("CREATE TABLE effects (consumer text NOT NULL, event_id uuid NOT NULL)",)


def durable(purpose: str) -> str:
    return f"test__{purpose}_{uuid.uuid4().hex[:8]}"


def recording(consumer: str, calls: list[str] | None = None, *, fail_first: int = 0, always_fail: bool = False):
    """A handler that writes one `effects` row per event it applies (and can be told to fail)."""
    seen = calls if calls is not None else []

    async def handler(conn: asyncpg.Connection, event: Event) -> None:
        seen.append(event.event_id)
        await conn.execute("INSERT INTO effects (consumer, event_id) VALUES ($1, $2)", consumer, event.event_id)
        if always_fail or len(seen) <= fail_first:
            raise ValueError(f"cannot apply {event.event_id}: poison")

    return handler


async def publish(bus: Bus, event: Event | bytes, msg_id: str | None = None) -> None:
    payload = event if isinstance(event, bytes) else msgspec.json.encode(event)
    fallback = event.event_id if isinstance(event, Event) else str(uuid.uuid4())
    await bus.publish_event(SUBJECT, payload, {}, msg_id or fallback)


async def consumer_info(bus: Bus, name: str) -> ConsumerInfo:
    return await bus.js.consumer_info(bus.stream(STREAM), name)


async def drained(bus: Bus, name: str) -> ConsumerInfo | None:
    """The consumer's info once nothing is waiting and nothing is unacknowledged."""
    try:
        info = await consumer_info(bus, name)
    except NotFoundError:  # the runner has not created it yet
        return None
    return info if info.num_pending == 0 and info.num_ack_pending == 0 else None


async def count(db: Database, table: str, consumer: str) -> int:
    return await db.fetchval(f"SELECT count(*) FROM {table} WHERE consumer = $1", consumer)  # type: ignore[return-value]


async def stored_messages(bus: Bus, stream: str) -> list[RawStreamMsg]:
    name = bus.stream(stream)
    state = (await bus.js.stream_info(name)).state
    if state.messages == 0:
        return []
    return [await bus.js.get_msg(name, seq) for seq in range(state.first_seq, state.last_seq + 1)]


async def test_event_delivered_twice_is_applied_once(env: Env) -> None:
    event = stock_event()
    # Two different message ids, so JetStream keeps both copies and only the inbox can stop the second.
    await publish(env.bus, event, str(uuid.uuid4()))
    await publish(env.bus, event, str(uuid.uuid4()))
    name = durable("twice")
    runner = ConsumerRunner(env.db, env.bus, [Subscription(name, (SUBJECT,), recording(name))])

    async with running(runner.run()):
        info = await eventually(lambda: drained(env.bus, name))

    assert info.delivered.stream_seq == 2
    assert await count(env.db, "effects", name) == 1
    assert await count(env.db, "inbox", name) == 1
    flags = sorted(
        s.attributes[names.DUPLICATE]
        for s in env.spans.get_finished_spans()
        if s.name == f"{SUBJECT} process" and s.attributes.get(names.CONSUMER) == name
    )
    assert flags == [False, True]


async def test_consumer_that_dies_before_acking_gets_redelivery_without_a_second_effect(env: Env, infra: Infra) -> None:
    event = stock_event()
    await publish(env.bus, event)
    name = durable("crash")
    sub = Subscription(name, (SUBJECT,), recording(name))

    dying_bus, _ = await open_bus(infra.nats_url, env.bus.namespace)
    dying = ConsumerRunner(env.db, dying_bus, [sub], ack_wait_s=1)
    psub = await dying.subscribe(sub)
    msgs = await psub.fetch(1, timeout=5)
    assert await dying.apply(sub, msgs[0]) is True  # effect committed ...
    await dying_bus.nc.close()  # ... and the process is gone before it could ack
    assert (await consumer_info(env.bus, name)).num_ack_pending == 1

    fresh = ConsumerRunner(env.db, env.bus, [sub], ack_wait_s=1)
    async with running(fresh.run()):
        info = await eventually(lambda: drained(env.bus, name), timeout=10)

    assert info.delivered.consumer_seq >= 2  # it really was delivered again
    assert await count(env.db, "effects", name) == 1
    assert await count(env.db, "inbox", name) == 1


async def test_handler_that_always_fails_is_dead_lettered_after_max_deliver_and_stops(env: Env) -> None:
    event = stock_event()
    await publish(env.bus, event)
    name = durable("poison")
    calls: list[str] = []
    runner = ConsumerRunner(
        env.db, env.bus, [Subscription(name, (SUBJECT,), recording(name, calls, always_fail=True))], max_deliver=3
    )

    async with running(runner.run()):
        await eventually(lambda: count(env.db, "dead_letters", name), timeout=10)
        await asyncio.sleep(1.5)  # would be long enough for more redeliveries
        info = await drained(env.bus, name)

    assert info is not None
    assert calls == [event.event_id] * 3
    row = await env.db.fetchrow("SELECT * FROM dead_letters WHERE consumer = $1", name)
    assert row["event_id"] == event.event_id
    assert row["subject"] == SUBJECT
    assert row["deliveries"] == 3
    assert "ValueError" in row["error"]
    assert "poison" in row["error"]
    assert msgspec.json.decode(row["payload"], type=StockChanged) == event
    assert await count(env.db, "effects", name) == 0  # each failed attempt rolled back
    assert await count(env.db, "inbox", name) == 0
    letters = [m for m in await stored_messages(env.bus, DLQ_STREAM) if m.subject == env.bus.subject(f"dlq.{name}")]
    assert len(letters) == 1
    assert letters[0].headers["Liveloop-Original-Subject"] == SUBJECT
    assert "poison" in letters[0].headers["Liveloop-Error"]
    assert msgspec.json.decode(letters[0].data, type=StockChanged) == event


async def test_handler_that_fails_once_then_succeeds_applies_once_without_dead_letter(env: Env) -> None:
    event = stock_event()
    await publish(env.bus, event)
    name = durable("flaky")
    calls: list[str] = []
    runner = ConsumerRunner(
        env.db, env.bus, [Subscription(name, (SUBJECT,), recording(name, calls, fail_first=1))], max_deliver=3
    )

    async with running(runner.run()):
        await eventually(lambda: drained(env.bus, name), timeout=10)

    assert calls == [event.event_id] * 2
    assert await count(env.db, "effects", name) == 1
    assert await count(env.db, "inbox", name) == 1
    assert await count(env.db, "dead_letters", name) == 0


async def test_undecodable_message_is_dead_lettered_and_does_not_block_the_next(env: Env) -> None:
    good = stock_event()
    await publish(env.bus, b"{not json")
    await publish(env.bus, good)
    name = durable("garbage")
    runner = ConsumerRunner(env.db, env.bus, [Subscription(name, (SUBJECT,), recording(name))], max_deliver=2)

    async with running(runner.run()):
        await eventually(lambda: drained(env.bus, name), timeout=10)

    assert await count(env.db, "dead_letters", name) == 1
    assert await env.db.fetchval("SELECT event_id::text FROM effects WHERE consumer = $1", name) == good.event_id


async def test_consumer_keeps_running_when_it_cannot_record_a_dead_letter(env: Env, infra: Infra) -> None:
    # Dead-lettering needs the database; when that write fails too (say Postgres is down), the consumer must
    # leave the message for redelivery and go on, not die and stop consuming for good.
    schema = await platform_schema(infra, "t_libs", *SCRATCH_DDL)
    db = await connect(infra.database_url, schema)
    try:
        await db.execute("DROP TABLE dead_letters")
        name = durable("nodlq")
        calls: list[str] = []
        poison, good = stock_event(), stock_event()

        async def handler(conn: asyncpg.Connection, event: Event) -> None:
            calls.append(event.event_id)
            if event.event_id == poison.event_id:
                raise ValueError("poison")
            await conn.execute("INSERT INTO effects (consumer, event_id) VALUES ($1, $2)", name, event.event_id)

        await publish(env.bus, poison)
        runner = ConsumerRunner(db, env.bus, [Subscription(name, (SUBJECT,), handler)], max_deliver=1, ack_wait_s=1)
        async with running(runner.run()) as tasks:
            await eventually(lambda: calls, timeout=10)
            await asyncio.sleep(0.3)
            await publish(env.bus, good)
            await eventually(lambda: db.fetchval("SELECT count(*) FROM effects WHERE consumer = $1", name), timeout=10)
            assert not tasks[0].done()
            # The unrecorded poison message is not lost: it comes back after ack_wait.
            await eventually(lambda: calls.count(poison.event_id) >= 2, timeout=10)
    finally:
        await db.close()


async def test_runner_stops_when_cancelled_even_if_something_below_swallows_the_cancel(env: Env) -> None:
    # Python 3.11's wait_for (inside nats-py's fetch) drops a cancel that races an arriving message; a service
    # shutdown waits for its consumer loops, so a lost cancel hung it. A handler that eats it stands in for that.
    started = asyncio.Event()

    async def swallowing(conn: asyncpg.Connection, event: Event) -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.5)

    await publish(env.bus, stock_event())
    runner = ConsumerRunner(env.db, env.bus, [Subscription(durable("stop"), (SUBJECT,), swallowing)])
    task = asyncio.create_task(runner.run())
    try:
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the runner ignored its cancel"
    finally:
        task.cancel()


async def test_consumer_of_two_subjects_applies_only_those_and_skips_the_rest_of_the_stream(env: Env) -> None:
    # NATS servers before 2.10 ignore a consumer's `filter_subjects` and deliver the whole stream.
    published = ProductPublished(product_id=str(uuid.uuid4()), merchant_id=str(uuid.uuid4()), title="mug")
    updated = ProductUpdated(product_id=published.product_id, merchant_id=published.merchant_id, title="cup", version=2)
    other = stock_event()
    for event in (published, other, updated):
        await env.bus.publish_event(event.SUBJECT, msgspec.json.encode(event), {}, event.event_id)
    name = durable("catalogue")
    calls: list[str] = []
    subjects = (ProductPublished.SUBJECT, ProductUpdated.SUBJECT)
    runner = ConsumerRunner(env.db, env.bus, [Subscription(name, subjects, recording(name, calls))], max_deliver=2)

    async with running(runner.run()):
        await eventually(lambda: drained(env.bus, name), timeout=10)
        await asyncio.sleep(0.3)

    assert sorted(calls) == sorted([published.event_id, updated.event_id])
    assert await count(env.db, "dead_letters", name) == 0
    assert await count(env.db, "inbox", name) == 2


async def test_events_a_subscription_does_not_want_are_acked_without_touching_the_database(env: Env) -> None:
    wanted, unwanted = stock_event(), stock_event()
    for event in (unwanted, wanted):
        await publish(env.bus, event, event.event_id)
    name = durable("wants")
    calls: list[str] = []
    sub = Subscription(name, (SUBJECT,), recording(name, calls), wants=lambda e: e.event_id == wanted.event_id)
    runner = ConsumerRunner(env.db, env.bus, [sub], max_deliver=2)

    async with running(runner.run()):
        info = await eventually(lambda: drained(env.bus, name))
        await asyncio.sleep(0.3)  # an unacked message would come back now

    assert info.delivered.stream_seq == 2
    assert calls == [wanted.event_id]
    assert await count(env.db, "inbox", name) == 1
    assert await count(env.db, "dead_letters", name) == 0
    skipped = [
        s.attributes.get(names.SKIPPED)
        for s in env.spans.get_finished_spans()
        if s.name == f"{SUBJECT} process" and s.attributes.get(names.CONSUMER) == name
    ]
    assert sorted(bool(flag) for flag in skipped) == [False, True]
