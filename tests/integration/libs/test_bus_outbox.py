"""Transactional outbox: only committed events leave, each exactly once, even across a NATS outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import pytest
from nats.js.api import RawStreamMsg
from opentelemetry.trace import StatusCode

from devstack.embedded import free_port, start_nats
from libs import faults
from libs.bus import Bus, Relay, add_events
from libs.contracts import StockChanged, stream_for
from libs.db import Database, connect
from tests.harness import Infra, eventually
from tests.integration.libs.support import Env, open_bus, running, stock_event

STREAM = stream_for(StockChanged.SUBJECT)


async def stored_messages(bus: Bus, stream: str = STREAM) -> list[RawStreamMsg]:
    """Every message the stream holds, read back by sequence."""
    name = bus.stream(stream)
    state = (await bus.js.stream_info(name)).state
    if state.messages == 0:
        return []
    return [await bus.js.get_msg(name, seq) for seq in range(state.first_seq, state.last_seq + 1)]


async def unpublished(db: Database) -> int:
    return await db.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")  # type: ignore[return-value]


async def write(db: Database, *events: StockChanged) -> None:
    async with db.transaction() as conn:
        await add_events(conn, *events)


async def test_rolled_back_events_are_never_published_and_committed_ones_once_with_their_id(env: Env) -> None:
    lost = stock_event()

    async def failed_write() -> None:
        async with env.db.transaction() as conn:
            await add_events(conn, lost)
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        await failed_write()
    kept = stock_event()
    await write(env.db, kept)

    relay = Relay(env.db, env.bus, interval_s=0.05)
    async with running(relay.run()):
        await eventually(lambda: env.db.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", kept.event_id))
        # A crash between publish and "mark sent" makes the relay publish again: still one message.
        await env.db.execute("UPDATE outbox SET published_at = NULL WHERE event_id = $1", kept.event_id)
        relay.kick()
        await eventually(lambda: env.db.fetchval("SELECT published_at FROM outbox WHERE event_id = $1", kept.event_id))
        await asyncio.sleep(0.3)

    messages = await stored_messages(env.bus)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [kept.event_id]
    assert messages[0].subject == env.bus.subject(StockChanged.SUBJECT)
    assert msgspec.json.decode(messages[0].data, type=StockChanged) == kept
    assert await env.db.fetchval("SELECT count(*) FROM outbox WHERE event_id = $1", lost.event_id) == 0
    publishes = [s for s in env.spans.get_finished_spans() if s.name == f"{StockChanged.SUBJECT} publish"]
    assert len(publishes) == 2  # the original and the re-publish, deduplicated by JetStream


async def test_two_relays_on_one_table_publish_each_event_once(env: Env, infra: Infra) -> None:
    second_db = await connect(infra.database_url, env.db.schema)
    second_bus, second_spans = await open_bus(infra.nats_url, env.bus.namespace)
    events = [stock_event() for _ in range(120)]
    try:
        relays = [
            Relay(env.db, env.bus, batch=5, interval_s=0.05),
            Relay(second_db, second_bus, batch=5, interval_s=0.05),
        ]
        async with running(*(r.run() for r in relays)):
            await asyncio.gather(*(write(env.db, *events[i : i + 3]) for i in range(0, len(events), 3)))
            await eventually(lambda: _zero(unpublished(env.db)), timeout=20)
    finally:
        await second_bus.close()
        await second_db.close()

    # JetStream would hide a double publish inside its duplicate window, so count the relays' own publishes too.
    published = [
        s.attributes["messaging.message.id"]
        for exporter in (env.spans, second_spans)
        for s in exporter.get_finished_spans()
        if s.name.endswith(" publish") and s.status.status_code != StatusCode.ERROR
    ]
    assert sorted(published) == sorted(e.event_id for e in events)
    stored = [m.headers["Nats-Msg-Id"] for m in await stored_messages(env.bus)]
    assert sorted(stored) == sorted(e.event_id for e in events)


async def test_a_sweep_marks_the_events_it_published_and_keeps_the_one_that_failed(env: Env) -> None:
    # The failing row first, so outcomes matched to the wrong rows would mark it published.
    # A row whose subject no stream covers, so every publish of it fails. Written as a raw row: an Event
    # class for it would join the contracts' registry for every later test of the session.
    stray_id, one, two = str(uuid.uuid4()), stock_event(), stock_event()
    await env.db.execute(
        "INSERT INTO outbox (event_id, subject, payload) VALUES ($1, 'nowhere.stray.v1', '{}')", stray_id
    )
    await write(env.db, one, two)

    relay = Relay(env.db, env.bus, interval_s=0.05)
    async with running(relay.run()):
        await eventually(lambda: _stored(env.bus, 2), timeout=10)
        await eventually(lambda: env.db.fetchval("SELECT attempts FROM outbox WHERE event_id = $1", stray_id))

    rows = {r["event_id"]: r for r in await env.db.fetch("SELECT event_id::text, published_at, last_error FROM outbox")}
    # The batch is published concurrently: each outcome must land on its own row.
    assert rows[one.event_id]["published_at"] is not None
    assert rows[two.event_id]["published_at"] is not None
    assert rows[stray_id]["published_at"] is None
    assert rows[stray_id]["last_error"]
    stored = [m.headers["Nats-Msg-Id"] for m in await stored_messages(env.bus)]
    assert sorted(stored) == sorted([one.event_id, two.event_id])


async def _zero(count: Coroutine[Any, Any, int]) -> bool:
    return await count == 0


async def test_relay_keeps_events_while_nats_is_down_and_publishes_them_once_it_is_back(
    env: Env, tmp_path: Path
) -> None:
    port = free_port()
    store = tmp_path / "nats"
    server = await asyncio.to_thread(start_nats, store, port)
    bus = None
    try:
        bus, _ = await open_bus(server.url, f"{env.bus.namespace}p")
        await asyncio.to_thread(server.stop)
        events = [stock_event() for _ in range(20)]
        for event in events:
            await write(env.db, event)

        relay = Relay(env.db, bus, interval_s=0.05)
        async with running(relay.run()):
            await asyncio.sleep(2)
            rows = await env.db.fetch("SELECT published_at, attempts, last_error FROM outbox ORDER BY seq")
            assert len(rows) == 20
            assert all(r["published_at"] is None for r in rows)
            # The relay keeps order: it retries the oldest row and records why it failed.
            assert rows[0]["attempts"] >= 1
            assert rows[0]["last_error"]

            server = await asyncio.to_thread(start_nats, store, port)
            await eventually(lambda: _zero(unpublished(env.db)), timeout=20)

        stored = [m.headers["Nats-Msg-Id"] for m in await stored_messages(bus)]
        assert sorted(stored) == sorted(e.event_id for e in events)
    finally:
        if bus is not None:
            await bus.close()
        await asyncio.to_thread(server.stop)


async def test_relay_survives_its_database_connections_being_cut(env: Env, infra: Infra) -> None:
    relay = Relay(env.db, env.bus, interval_s=0.05)
    async with running(relay.run()) as tasks:
        await _commit(env.db, stock_event())
        await eventually(lambda: _stored(env.bus, 1), timeout=10)
        # An operator's restart, a failover, a network blip: every backend of this pool is killed.
        admin = await asyncpg.connect(infra.database_url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
                f"liveloop-{env.db.schema}",
            )
        finally:
            await admin.close()
        assert killed >= 1
        await asyncio.sleep(0.3)
        assert not tasks[0].done(), "the relay died with its connection"
        await _commit(env.db, stock_event())
        # A row cut off between publish and mark goes out again: JetStream drops the duplicate by its id.
        await eventually(lambda: _all_marked(env.db), timeout=15)
    assert len(await stored_messages(env.bus)) == 2


async def _all_marked(db: Database) -> bool:
    return await unpublished(db) == 0


async def _commit(db: Database, event: StockChanged) -> None:
    async with db.transaction() as conn:
        await add_events(conn, event)


async def _stored(bus: Bus, n: int) -> bool:
    return len(await stored_messages(bus)) == n


async def test_the_relay_waits_its_short_delay_after_each_new_failure_not_one_doubled_by_every_past_one(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    """Each failure of the relay's sweep (here: a crash point in it, armed in this process) restarts it after a delay
    that doubles while failures follow each other; once a sweep has worked again, the next failure starts over at the
    short delay. Before the fix, a process's eighth failure, however long after its seventh, stalled publishing 5 s."""
    relay = Relay(env.db, env.bus, interval_s=0.05)
    try:
        async with running(relay.run()):
            for n in range(1, 9):
                faults.arm("relay.published", after=1)
                await _commit(env.db, stock_event())
                # The sweep published, failed before marking, waited, and then marked it all (and more got through).
                await eventually(lambda: not faults.pending("relay.published"), timeout=10)
                await eventually(lambda: _all_marked(env.db), timeout=15)
                await _commit(env.db, stock_event())
                await eventually(lambda: _all_marked(env.db), timeout=15)
                assert len(await stored_messages(env.bus)) == 2 * n
    finally:
        faults.disarm()
    delays = [r.args[0] for r in caplog.records if "outbox relay: stopped on an error" in r.getMessage()]
    assert delays == [0.05] * 8
