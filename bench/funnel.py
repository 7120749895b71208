"""Funnel ingest benchmark: events/s folded by the funnel's micro-batched consumers, and how far the rollups lag.

    python -m bench.funnel [--events N] [--rate R] [--batch B] [--instances I]

It makes a fresh database (live's schema, one live room with a session) and NATS namespace on the Postgres and NATS
of 127.0.0.1 (else embedded ones; BENCH_DATABASE_URL / BENCH_NATS_URL point elsewhere) and runs:

  1. ceiling: the same N events published to JetStream in a namespace of their own, then drained by I processes of
     plain pull consumers (same durables' split, same batch size, the same pull as the runner's) that decode each
     event and ack it: JetStream publish+consume of the same payloads without the database;
  2. sustained: I live instances (processes; default 2, as deployed and as the flash-sale bench runs live), each
     running the funnel's consumers (`services.live.funnel.consumers`; the durables are shared, so JetStream splits
     the events between them), while a child process publishes N mixed funnel events (views 40%, ended visits 20%,
     clicks 20%, cart adds 10%, orders placed 5% attributed through the clicks, orders paid 5%) at R events/s; every
     0.25 s it also publishes a marker (a view, a cart add or an order of a scope of its own), and a sampler notes
     when the marker's row appears in `funnel_minutes`: the rollup lag;
  3. drain: N more events published as a backlog first, then folded as fast as the consumers go (their ceiling-
     bound rate).

Prints events/s sustained and drained, the ratio of each to the ceiling, and the marker lag (p50, p99, max).
Exit 1 if the sustained run fell behind (lag p99 over 2 s or fewer events/s than asked), 2 if it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import uvloop

from bench.stack import REPO_ROOT, _admin_dsn, _create_database, _drop_database, _nats_url
from devstack import embedded
from libs.bus import Bus, ConsumerRunner, Subscription
from libs.bus.consumer import Puller
from libs.clock import SystemClock
from libs.contracts import (
    EVENT_TYPES,
    CartItemAdded,
    Event,
    FunnelTap,
    FunnelTapped,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    RoomViewed,
    VisitEnded,
    stream_for,
)
from libs.db import connect, migrate
from libs.runtime import Runtime
from libs.telemetry import Telemetry
from services.live.funnel import consumers
from services.live.settings import LiveSettings

MARKER_EVERY_S = 0.25
PRODUCTS = 50
VIEWERS = 20_000


def _say(message: str) -> None:
    print(f"bench | {message}", flush=True)


class Room(msgspec.Struct, frozen=True):
    room_id: str
    session_id: str
    host_id: str
    merchant_id: str


def events(room: Room, count: int, seed: int, start: datetime) -> list[Event]:
    """`count` mixed funnel events of one room, deterministic for a seed; orders follow their buyer's clicks."""
    rng = random.Random(seed)
    products = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(PRODUCTS)]
    out: list[Event] = []
    placed: list[OrderPlaced] = []
    for i in range(count):
        at = start + timedelta(milliseconds=i // 10)
        viewer = f"viewer-{rng.randrange(VIEWERS)}"
        product = products[rng.randrange(PRODUCTS)]
        kind = i % 20
        common = dict(room_id=room.room_id, session_id=room.session_id, host_id=room.host_id)
        if kind < 8:
            out.append(
                RoomViewed(
                    visit_id=f"{seed}-{i}", **common, merchant_id=room.merchant_id, viewer_id=viewer, joined_at=at
                )
            )
        elif kind < 12:
            out.append(
                VisitEnded(
                    visit_id=f"{seed}-{i - 8}",
                    **common,
                    merchant_id=room.merchant_id,
                    viewer_id=viewer,
                    watch_s=rng.uniform(1, 600),
                    ended_at=at,
                )
            )
        elif kind < 16:
            tap = FunnelTap(
                fact_key=f"click:{viewer}:{product}:{seed}-{i}",
                kind="click",
                at=at,
                viewer_id=viewer,
                merchant_id=room.merchant_id,
                product_id=product,
                surface="bag",
                **common,
            )
            out.append(FunnelTapped(taps=[tap]))
        elif kind < 18:
            out.append(_cart(room.merchant_id, viewer, product, at, f"{seed}-{i}", room.room_id))
        elif kind == 18:
            order = _order(room.merchant_id, viewer, product, at, rng)
            placed.append(order)
            out.append(order)
        else:
            order = placed[-1] if placed else _order(room.merchant_id, viewer, product, at, rng)
            out.append(_paid(order, at))
    return out


def _cart(merchant_id: str, buyer: str, product: str, at: datetime, key: str, room_id: str | None) -> CartItemAdded:
    return CartItemAdded(
        fact_key=f"{buyer}:{key}",
        buyer_id=buyer,
        sku_id=product,
        product_id=product,
        merchant_id=merchant_id,
        quantity=1,
        unit_price_minor=2599,
        currency="USD",
        source_type="room" if room_id else None,
        source_id=room_id,
        source_verified=bool(room_id),
        added_at=at,
    )


def _order(merchant_id: str, buyer: str, product: str, at: datetime, rng: random.Random) -> OrderPlaced:
    line = OrderLine(
        sku_id=product,
        product_id=product,
        title="Linen Shirt",
        sku_name="M",
        quantity=1,
        unit_price_minor=2599,
        amount_minor=2599,
    )
    return OrderPlaced(
        order_id=str(uuid.UUID(int=rng.getrandbits(128))),
        checkout_id=str(uuid.UUID(int=rng.getrandbits(128))),
        buyer_id=buyer,
        merchant_id=merchant_id,
        lines=[line],
        payment_id=str(uuid.UUID(int=rng.getrandbits(128))),
        amount_minor=2599,
        currency="USD",
        pay_by=at + timedelta(minutes=15),
        occurred_at=at,
    )


def _paid(order: OrderPlaced, at: datetime) -> OrderPaid:
    return OrderPaid(
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        lines=order.lines,
        payment_id=order.payment_id,
        amount_minor=order.amount_minor,
        currency="USD",
        paid_at=at,
    )


def marker(k: int, room: Room, at: datetime) -> tuple[Event, str, str]:
    """A marker event whose own rollup row (scope, scope id) shows when it was folded; by turns for each consumer."""
    scope_id = f"marker-{k}"
    if k % 3 == 0:
        event: Event = RoomViewed(
            visit_id=scope_id,
            room_id=room.room_id,
            session_id=scope_id,
            host_id=room.host_id,
            merchant_id=room.merchant_id,
            viewer_id=scope_id,
            joined_at=at,
        )
        return event, "session", scope_id
    if k % 3 == 1:
        return _cart(scope_id, scope_id, scope_id, at, scope_id, None), "merchant", scope_id
    return _order(scope_id, scope_id, scope_id, at, random.Random(k)), "merchant", scope_id


def _payload(event: Event) -> tuple[str, bytes, str]:
    return event.SUBJECT, msgspec.json.encode(event), event.event_id


async def _publish_paced(
    nats_url: str, namespace: str, room: Room, count: int, seed: int, rate: float, markers: bool
) -> tuple[float, float, list[tuple[str, str, float]]]:
    """Publish `count` events at `rate`/s (core NATS into the streams: no per-message ack to wait for), with markers;
    (start, end, [(scope, scope_id, published_at)])."""
    bus = await Bus.connect(nats_url, namespace, Telemetry("bench-publisher"))
    try:
        payloads = [_payload(e) for e in events(room, count, seed, datetime.now(UTC))]
        sent_markers: list[tuple[str, str, float]] = []
        start = time.time()
        next_marker = start
        tick = 0.01
        i = 0
        k = seed * 1_000_000
        while i < len(payloads):
            due = int((time.time() - start) * rate) + 1 if rate > 0 else len(payloads)
            while i < min(due, len(payloads)):
                subject, data, msg_id = payloads[i]
                await bus.nc.publish(bus.subject(subject), data, headers={"Nats-Msg-Id": msg_id})
                i += 1
            if markers and time.time() >= next_marker:
                event, scope, scope_id = marker(k, room, datetime.now(UTC))
                subject, data, msg_id = _payload(event)
                await bus.nc.publish(bus.subject(subject), data, headers={"Nats-Msg-Id": msg_id})
                sent_markers.append((scope, scope_id, time.time()))
                k += 1
                next_marker += MARKER_EVERY_S
            await bus.nc.flush()
            if rate > 0:
                await asyncio.sleep(tick)
        end = time.time()
        return start, end, sent_markers
    finally:
        await bus.close()


def _publisher_process(nats_url: str, namespace: str, room: Room, count: int, seed: int, rate: float, out) -> None:
    out.send(uvloop.run(_publish_paced(nats_url, namespace, room, count, seed, rate, True)))
    out.close()


async def _setup_room(conn: asyncpg.Connection) -> Room:
    room = Room(str(uuid.uuid4()), str(uuid.uuid4()), "host-bench", str(uuid.uuid4()))
    now = datetime.now(UTC) - timedelta(hours=1)
    await conn.execute(
        """INSERT INTO live.rooms (room_id, host_id, merchant_id, title, status, created_at)
           VALUES ($1, $2, $3, 'Bench room', 'scheduled', $4)""",
        room.room_id,
        room.host_id,
        room.merchant_id,
        now,
    )
    await conn.execute(
        """INSERT INTO live.room_sessions (session_id, room_id, number, started_at) VALUES ($1, $2, 1, $3)""",
        room.session_id,
        room.room_id,
        now,
    )
    await conn.execute(
        "UPDATE live.rooms SET status = 'live', current_session_id = $2 WHERE room_id = $1",
        room.room_id,
        room.session_id,
    )
    return room


def _groups() -> list[tuple[str, tuple[str, ...]]]:
    return [(s.durable, s.subjects) for s in consumers.subscriptions(_FakeRuntime())]  # type: ignore[arg-type]


class _FakeRuntime:
    """Just enough of a runtime to list the funnel's subscriptions (their durables and subjects)."""

    settings = LiveSettings()


async def _drain_raw(nats_url: str, namespace: str, batch: int) -> tuple[int, float]:
    """Fetch, decode and ack every event of the ceiling's namespace (no database); (count, wall time of the last)."""
    bus = await Bus.connect(nats_url, namespace, Telemetry("bench-ceiling"))
    try:
        runner = ConsumerRunner(None, bus, [])  # type: ignore[arg-type]
        last = [0.0]

        async def drain(durable: str, subjects: tuple[str, ...]) -> int:
            # The pull the funnel's consumers use (one request per batch), so only the database work differs.
            await runner.subscribe(Subscription(durable, subjects, handler=_never))
            puller = Puller(bus, bus.stream(stream_for(subjects[0])), durable)
            await puller.start()
            got = idle = 0
            while idle < 3:
                msgs = await puller.fetch(batch, timeout=0.5)
                if not msgs:
                    idle += 1
                    continue
                idle = 0
                for msg in msgs:
                    _ = msg.metadata.num_delivered  # the runner reads it too (redeliveries are counted)
                    msgspec.json.decode(msg.data, type=EVENT_TYPES[bus.unsubject(msg.subject)])
                    await msg.ack()
                got += len(msgs)
                last[0] = time.time()
            await puller.close()
            return got

        got = sum(await asyncio.gather(*(drain(d, s) for d, s in _groups())))
        return got, last[0]
    finally:
        await bus.close()


def _ceiling_process(nats_url: str, namespace: str, batch: int, out) -> None:
    out.send(uvloop.run(_drain_raw(nats_url, namespace, batch)))
    out.close()


async def ceiling(nats_url: str, count: int, batch: int, room: Room, instances: int) -> float:
    """Events/s of JetStream publish+consume of the same payloads by as many processes, without the database: each
    fetches (same durables, same batch size), decodes and acks (see the module docstring)."""
    namespace = f"benchceil{uuid.uuid4().hex[:8]}"
    bus = await Bus.connect(nats_url, namespace, Telemetry("bench-ceiling"))
    try:
        await bus.ensure_streams()
        payloads = [_payload(e) for e in events(room, count, 1, datetime.now(UTC))]
        ctx = multiprocessing.get_context("spawn")
        pipes, procs = [], []
        start = time.time()
        for n, (subject, data, msg_id) in enumerate(payloads):
            await bus.nc.publish(bus.subject(subject), data, headers={"Nats-Msg-Id": msg_id})
            if n % 5000 == 0:
                await bus.nc.flush()
        await bus.nc.flush()
        for _ in range(instances):
            receiver, sender = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_ceiling_process, args=(nats_url, namespace, batch, sender))
            proc.start()
            pipes.append(receiver)
            procs.append(proc)
        results = [await asyncio.to_thread(pipe.recv) for pipe in pipes]
        for proc in procs:
            proc.join()
        done = sum(got for got, _ in results)
        assert done == count, (done, count)
        return count / (max(t for _, t in results) - start)
    finally:
        await embedded.drop_streams(nats_url, f"{namespace}_")
        await bus.close()


async def _consume(dsn: str, nats_url: str, namespace: str, batch: int, stop) -> None:
    """One live instance's funnel consumers, until `stop` is set."""
    settings = LiveSettings(
        service="live", database_url=dsn, nats_url=nats_url, namespace=namespace, funnel_batch=batch
    )
    telemetry = Telemetry("live")
    runtime: Runtime[LiveSettings] = Runtime(settings, telemetry, SystemClock())
    runtime.db = await connect(dsn, "live", max_size=8)
    runtime.bus = await Bus.connect(nats_url, namespace, telemetry)
    task = asyncio.create_task(ConsumerRunner(runtime.db, runtime.bus, consumers.subscriptions(runtime)).run())
    try:
        while not stop.is_set():  # noqa: ASYNC110 - a multiprocessing event, set by the parent
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.bus.close()
        await runtime.db.close()


def _consumer_process(dsn: str, nats_url: str, namespace: str, batch: int, stop) -> None:
    uvloop.run(_consume(dsn, nats_url, namespace, batch, stop))


class Instances:
    """Live instances (processes) running the funnel's consumers, as `liveloop serve live` would."""

    def __init__(self, count: int, dsn: str, nats_url: str, namespace: str, batch: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.procs = [
            ctx.Process(target=_consumer_process, args=(dsn, nats_url, namespace, batch, self.stop))
            for _ in range(count)
        ]
        for proc in self.procs:
            proc.start()

    def close(self) -> None:
        self.stop.set()
        for proc in self.procs:
            proc.join(30)


async def _never(conn, event) -> None:
    raise AssertionError("the ceiling never applies events")


async def _folded(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM live.inbox")


async def run(args: argparse.Namespace) -> int:
    run_id = uuid.uuid4().hex[:10]
    work = Path(tempfile.mkdtemp(prefix=f"liveloop-bench-funnel-{run_id}-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)
        admin_dsn = _admin_dsn(work, cleanup)
        nats_url = _nats_url(work, cleanup)
        database = f"liveloop_bench_funnel_{run_id}"
        namespace = f"benchf{run_id}"
        await _create_database(admin_dsn, database)
        try:
            dsn = embedded.dsn_for_database(admin_dsn, database)
            await migrate(dsn, "live", REPO_ROOT / "services" / "live" / "migrations")
            conn = await asyncpg.connect(dsn)
            try:
                room = await _setup_room(conn)
                return await _measure(args, dsn, nats_url, namespace, room, conn)
            finally:
                await conn.close()
        finally:
            await embedded.drop_streams(nats_url, f"{namespace}_")
            await _drop_database(admin_dsn, database)


async def _measure(
    args: argparse.Namespace, dsn: str, nats_url: str, namespace: str, room: Room, conn: asyncpg.Connection
) -> int:
    _say(
        f"machine: {os.cpu_count()} cores; {args.events:,} events, rate {args.rate:,.0f}/s, batch {args.batch}, "
        f"{args.instances} live instance(s)"
    )
    ceiling_rate = await ceiling(nats_url, args.events, args.batch, room, args.instances)
    _say(f"ceiling (JetStream publish+consume, decode and ack, no database): {ceiling_rate:,.0f} events/s")

    bus = await Bus.connect(nats_url, namespace, Telemetry("bench"))
    await bus.ensure_streams()
    await bus.close()
    instances = Instances(args.instances, dsn, nats_url, namespace, args.batch)
    try:
        # 2. sustained, with markers, from a child process.
        ctx = multiprocessing.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_publisher_process, args=(nats_url, namespace, room, args.events, 2, args.rate, sender)
        )
        proc.start()
        seen: dict[str, float] = {}
        published_at: dict[str, float] = {}
        result = None
        while True:
            rows = await conn.fetch(
                """SELECT scope_id FROM live.funnel_minutes
                   WHERE scope IN ('session', 'merchant') AND scope_id LIKE 'marker-%'"""
            )
            now = time.time()
            for row in rows:
                seen.setdefault(row["scope_id"], now)
            if result is None and receiver.poll():
                result = receiver.recv()
                published_at = {scope_id: t for _, scope_id, t in result[2]}
            if result is not None and set(published_at) <= set(seen) and await _folded(conn) >= args.events:
                done_at = time.time()
                break
            await asyncio.sleep(0.05)
        proc.join()
        start, end, _ = result
        folded = await _folded(conn)
        sustained = folded / (done_at - start)
        lags = sorted(seen[k] - published_at[k] for k in published_at)
        p50, p99 = lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        _say(f"sustained: published {args.events:,} in {end - start:.1f}s ({args.events / (end - start):,.0f}/s)")
        _say(
            f"sustained: folded {folded:,} events at {sustained:,.0f} events/s "
            f"({sustained / ceiling_rate:.0%} of the ceiling)"
        )
        _say(f"rollup lag over {len(lags)} markers: p50 {p50:.2f}s, p99 {p99:.2f}s, max {lags[-1]:.2f}s")
    finally:
        instances.close()

    # 3. drain: a backlog first, then as fast as the consumers fold it.
    before = await _folded(conn)
    await _publish_paced(nats_url, namespace, room, args.events, 3, 0, False)
    t0 = time.time()
    instances = Instances(args.instances, dsn, nats_url, namespace, args.batch)
    try:
        while await _folded(conn) < before + args.events:  # noqa: ASYNC110 - polling the database, not an event
            await asyncio.sleep(0.05)
        drained = args.events / (time.time() - t0)
    finally:
        instances.close()
    _say(
        f"drain: folded a backlog of {args.events:,} at {drained:,.0f} events/s "
        f"({drained / ceiling_rate:.0%} of the ceiling; includes the instances' start-up)"
    )
    behind = p99 > 2.0 or sustained < args.rate * 0.95
    _say("verdict: " + ("FELL BEHIND" if behind else f"kept up with {args.rate:,.0f}/s, rollups within 2 s"))
    return 1 if behind else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.funnel", description=__doc__.splitlines()[0])
    parser.add_argument("--events", "-N", type=int, default=200_000, help="events per run (default 200000)")
    parser.add_argument("--rate", "-R", type=float, default=10_000, help="events/s published (default 10000)")
    parser.add_argument("--batch", "-B", type=int, default=500, help="events per fold (default 500)")
    parser.add_argument("--instances", type=int, default=2, help="live processes folding (default 2, as deployed)")
    args = parser.parse_args(argv)
    try:
        # uvloop, as `liveloop serve` runs the services (uvicorn picks it when installed).
        return uvloop.run(run(args))
    except embedded.StartupError as exc:
        _say(f"could not run: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
