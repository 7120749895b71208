"""Deadlines as stored jobs: run once when due, retried with their effect rolled back, never twice."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta

import asyncpg

from libs.clock import OffsetClock
from libs.db import Database, connect
from libs.scheduler import LEASE_S, JobHandler, Scheduler, cancel, reschedule, schedule
from libs.telemetry import Telemetry
from tests.harness import Infra, eventually

# Platform tables (due_jobs) plus an `effects` table the jobs write to.
SCRATCH_DDL = ("CREATE TABLE effects (kind text NOT NULL, key text NOT NULL, note text)",)


def kind() -> str:
    """A job kind of this test's own, so schedulers of other tests never pick its jobs."""
    return f"k_{uuid.uuid4().hex[:8]}"


def effect(calls: list[str] | None = None, *, fail_times: int = 0, delay_s: float = 0.0) -> JobHandler:
    """A job that writes one `effects` row (then fails `fail_times` times, rolling that row back)."""
    seen = calls if calls is not None else []

    async def handler(conn: asyncpg.Connection, key: str, payload: dict) -> None:
        seen.append(key)
        if delay_s:
            await asyncio.sleep(delay_s)
        await conn.execute(
            "INSERT INTO effects (kind, key, note) VALUES ($1, $2, $3)", payload["kind"], key, payload.get("note")
        )
        if len(seen) <= fail_times:
            raise RuntimeError(f"job {key} failed on attempt {len(seen)}")

    return handler


async def add_job(
    scratch_db: Database, job_kind: str, key: str, in_s: float, clock: OffsetClock, note: str = ""
) -> None:
    async with scratch_db.transaction() as conn:
        await schedule(conn, job_kind, key, clock.now() + timedelta(seconds=in_s), {"kind": job_kind, "note": note})


async def effects(scratch_db: Database, job_kind: str) -> list[str]:
    return [r["key"] for r in await scratch_db.fetch("SELECT key FROM effects WHERE kind = $1 ORDER BY key", job_kind)]


async def jobs(scratch_db: Database, job_kind: str) -> list[asyncpg.Record]:
    return await scratch_db.fetch("SELECT * FROM due_jobs WHERE kind = $1 ORDER BY key", job_kind)


async def test_job_due_later_waits_and_runs_once_when_the_clock_reaches_it(scratch_db: Database) -> None:
    clock, k, calls = OffsetClock(), kind(), []
    await add_job(scratch_db, k, "order-1", 600, clock)
    scheduler = Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls)})

    assert await scheduler.run_due() == 0
    assert calls == []
    assert len(await jobs(scratch_db, k)) == 1

    clock.advance(601)
    assert await scheduler.run_due() == 1
    assert await scheduler.run_due() == 0
    assert calls == ["order-1"]
    assert await effects(scratch_db, k) == ["order-1"]
    assert await jobs(scratch_db, k) == []


async def test_failing_job_is_rolled_back_and_retried_later_with_attempts_counted(scratch_db: Database) -> None:
    clock, k, calls = OffsetClock(), kind(), []
    await add_job(scratch_db, k, "refund-1", 0, clock)
    scheduler = Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls, fail_times=2)})

    await scheduler.run_due()
    [job] = await jobs(scratch_db, k)
    assert job["attempts"] == 1
    assert "failed on attempt 1" in job["last_error"]
    assert job["due_at"] > clock.now()  # pushed back, not hot-looping
    assert await effects(scratch_db, k) == []  # the failed attempt's write was rolled back

    await scheduler.run_due()
    assert calls == ["refund-1"]  # not due again yet

    clock.advance(2)
    await scheduler.run_due()
    [job] = await jobs(scratch_db, k)
    assert job["attempts"] == 2
    assert await effects(scratch_db, k) == []

    clock.advance(5)
    await scheduler.run_due()
    assert calls == ["refund-1"] * 3
    assert await effects(scratch_db, k) == ["refund-1"]
    assert await jobs(scratch_db, k) == []


async def test_failing_job_does_not_hold_back_or_undo_the_others_in_its_batch(scratch_db: Database) -> None:
    clock, k = OffsetClock(), kind()
    calls: list[str] = []

    async def handler(conn: asyncpg.Connection, key: str, payload: dict) -> None:
        calls.append(key)
        await conn.execute("INSERT INTO effects (kind, key) VALUES ($1, $2)", k, key)
        if key == "b":
            raise RuntimeError("b is broken")

    for key in ("a", "b", "c"):
        await add_job(scratch_db, k, key, 0, clock)
    await Scheduler(scratch_db, Telemetry("test"), clock, {k: handler}).run_due()

    assert sorted(calls) == ["a", "b", "c"]
    assert await effects(scratch_db, k) == ["a", "c"]
    assert [j["key"] for j in await jobs(scratch_db, k)] == ["b"]


async def test_two_schedulers_on_one_table_run_each_job_once(scratch_db: Database, infra: Infra) -> None:
    clock, k = OffsetClock(), kind()
    keys = [f"job-{i:03d}" for i in range(60)]
    for key in keys:
        await add_job(scratch_db, k, key, 0, clock)
    other_db = await connect(infra.database_url, scratch_db.schema)
    calls: list[str] = []
    schedulers = [
        Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls, delay_s=0.005)}, interval_s=0.02, batch=7),
        Scheduler(other_db, Telemetry("test"), clock, {k: effect(calls, delay_s=0.005)}, interval_s=0.02, batch=7),
    ]
    tasks = [asyncio.create_task(s.run()) for s in schedulers]
    try:
        await eventually(lambda: _none_left(scratch_db, k), timeout=20)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await other_db.close()

    assert sorted(calls) == keys
    assert await effects(scratch_db, k) == keys


async def _none_left(scratch_db: Database, job_kind: str) -> bool:
    return not await jobs(scratch_db, job_kind)


async def test_scheduling_the_same_kind_and_key_twice_keeps_the_first_job(scratch_db: Database) -> None:
    clock, k = OffsetClock(), kind()
    await add_job(scratch_db, k, "checkout-1", 60, clock, note="first")
    await add_job(scratch_db, k, "checkout-1", 1, clock, note="second")

    [job] = await jobs(scratch_db, k)
    assert job["payload"]["note"] == "first"
    assert job["due_at"] > clock.now() + timedelta(seconds=50)


async def test_cancelled_job_never_runs(scratch_db: Database) -> None:
    clock, k, calls = OffsetClock(), kind(), []
    await add_job(scratch_db, k, "checkout-2", 1, clock)
    async with scratch_db.transaction() as conn:
        await cancel(conn, k, "checkout-2")
    clock.advance(10)

    await Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls)}).run_due()

    assert calls == []
    assert await jobs(scratch_db, k) == []


async def test_job_scheduled_in_a_rolled_back_transaction_does_not_exist(scratch_db: Database) -> None:
    clock, k = OffsetClock(), kind()
    with contextlib.suppress(RuntimeError):
        async with scratch_db.transaction() as conn:
            await schedule(conn, k, "checkout-3", clock.now(), {"kind": k})
            raise RuntimeError("checkout failed")
    assert await jobs(scratch_db, k) == []


async def test_job_can_move_itself_later_and_runs_again_then(scratch_db: Database) -> None:
    clock, k, calls = OffsetClock(), kind(), []

    async def not_yet_then_done(conn: asyncpg.Connection, key: str, payload: dict) -> None:
        calls.append(key)
        if len(calls) == 1:  # e.g. the payment is still processing: look again in a minute
            await reschedule(conn, k, key, clock.now() + timedelta(seconds=60))
            return
        await conn.execute("INSERT INTO effects (kind, key) VALUES ($1, $2)", k, key)

    await add_job(scratch_db, k, "pi-1", 0, clock)
    scheduler = Scheduler(scratch_db, Telemetry("test"), clock, {k: not_yet_then_done})
    await scheduler.run_due()
    assert calls == ["pi-1"]
    assert [r["key"] for r in await jobs(scratch_db, k)] == ["pi-1"]  # kept, not completed
    await scheduler.run_due()
    assert calls == ["pi-1"]  # not due again yet
    clock.advance(61)
    await scheduler.run_due()
    assert calls == ["pi-1", "pi-1"]
    assert await effects(scratch_db, k) == ["pi-1"]
    assert await jobs(scratch_db, k) == []


async def test_running_job_holds_no_lock_that_blocks_cancelling_it(scratch_db: Database) -> None:
    """A job may call out (Stripe) while a webhook cancels it: neither waits on the other's row lock."""
    clock, k = OffsetClock(), kind()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_call_out(conn: asyncpg.Connection, key: str, payload: dict) -> None:
        started.set()
        await release.wait()

    await add_job(scratch_db, k, "checkout-1", 0, clock)
    scheduler = Scheduler(scratch_db, Telemetry("test"), clock, {k: slow_call_out})
    running = asyncio.create_task(scheduler.run_due())
    await asyncio.wait_for(started.wait(), 5)
    async with scratch_db.transaction() as conn:
        await conn.execute("SET LOCAL lock_timeout = '2s'")
        await cancel(conn, k, "checkout-1")  # would time out if the job held its row
    release.set()
    assert await asyncio.wait_for(running, 5) == 1
    assert await jobs(scratch_db, k) == []


async def test_claimed_job_of_a_crashed_instance_runs_elsewhere_after_its_lease(scratch_db: Database) -> None:
    clock, k, calls = OffsetClock(), kind(), []
    await add_job(scratch_db, k, "orphan", 0, clock)
    # An instance claims the job and dies before running it: the claim is all that is left.
    await scratch_db.execute(
        "UPDATE due_jobs SET locked_until = $2 WHERE kind = $1", k, clock.now() + timedelta(seconds=120)
    )
    other = Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls)})
    assert await other.run_due() == 0
    clock.advance(121)
    assert await other.run_due() == 1
    assert await effects(scratch_db, k) == ["orphan"]


async def test_job_of_a_runner_that_vanished_runs_again_on_another_within_the_short_lease(
    scratch_db: Database, infra: Infra
) -> None:
    clock, k, calls = OffsetClock(), kind(), []
    await add_job(scratch_db, k, "held", 0, clock)
    dying_db = await connect(infra.database_url, scratch_db.schema)
    started = asyncio.Event()

    async def hangs(conn: asyncpg.Connection, key: str, payload: dict) -> None:
        started.set()
        await asyncio.Event().wait()

    dying = Scheduler(dying_db, Telemetry("test"), clock, {k: hangs})
    running = asyncio.create_task(dying.run_due())
    await asyncio.wait_for(started.wait(), 5)
    # The process dies mid-job: its connections drop (Postgres rolls the job's transaction back), nothing of it
    # runs again, and its claim is all that is left.
    dying_db.pool.terminate()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    other = Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls)})
    assert await other.run_due() == 0  # still claimed
    clock.advance(LEASE_S - 1)
    assert await other.run_due() == 0
    clock.advance(1.1)  # the claim lapses one lease after it was made, not 120 s
    assert await other.run_due() == 1
    assert await effects(scratch_db, k) == ["held"]
    assert await jobs(scratch_db, k) == []


async def test_jobs_running_or_waiting_longer_than_the_lease_are_not_taken_by_another_runner(
    scratch_db: Database, infra: Infra
) -> None:
    """A live runner renews its claims: two jobs of 1.8 s, one at a time, under a 1 s lease, run once each."""
    clock, k, calls = OffsetClock(), kind(), []
    for key in ("first", "second"):
        await add_job(scratch_db, k, key, 0, clock)
    other_db = await connect(infra.database_url, scratch_db.schema)
    slow = Scheduler(scratch_db, Telemetry("test"), clock, {k: effect(calls, delay_s=1.8)}, lease_s=1.0, concurrency=1)
    rival = Scheduler(other_db, Telemetry("test"), clock, {k: effect(calls)}, lease_s=1.0)
    running = asyncio.create_task(slow.run_due())
    taken = 0
    try:
        await eventually(lambda: calls, timeout=5, interval=0.01)  # the slow runner holds both claims now
        while not running.done():
            taken += await rival.run_due()
            await asyncio.sleep(0.05)
        assert await running == 2
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await other_db.close()
    assert taken == 0
    assert sorted(calls) == ["first", "second"]
    assert await effects(scratch_db, k) == ["first", "second"]
