"""kill -9 at every crash point, during every flow: nothing lost, nothing done twice.

The five services run as real processes (`procs.Procs`). For each crash point of `libs.faults.POINTS`, one round
arms every service that passes the point with seeded counts (`LIVELOOP_CRASH_AT=<point>:<n>`): the process kills
itself with SIGKILL the n-th time it gets there, and is started again on the same port, armed with its next count
until they are spent. Meanwhile SEEDS instances of each of the five flows (tests/integration/faults/flows.py) run
concurrently, each from its own seed, retrying like a real app. Every flow must reach the end its users expect;
then the invariant checker (devstack/invariants/) compares the databases, outboxes, inboxes and localstripe.

A failing round names its point and seeds; `LIVELOOP_CRASH_SEED=<seed>` replays that round's choices (the counts
and the flows' choices; the processes' timing is real). `make bench` runs `LIVELOOP_CRASH_SEEDS=100` (bench mark).

The recovery tests at the end measure what a user would wait after a kill (docs/RELIABILITY.md "Recovery").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import tempfile
import time
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from libs import faults
from tests.harness import Infra, eventually
from tests.integration.faults import flows
from tests.integration.faults.procs import Kill, Procs
from tests.integration.orders.support import intents_of_checkout

SEEDS = int(os.environ.get("LIVELOOP_CRASH_SEEDS", "5"))
# Seeds per flow run at once; each batch arms the services again, so every batch sees kills (`make bench`: 100 seeds
# in batches of 10).
BATCH = int(os.environ.get("LIVELOOP_CRASH_BATCH", "5"))
BASE_SEED = int(os.environ.get("LIVELOOP_CRASH_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)
# Where each point is passed during the flows (every service writes events, consumes, runs jobs).
EVERYWHERE = ("shop", "live", "orders", "aftersales", "local_life")
WHERE = {point: ("orders",) if point.startswith("stripe.") else EVERYWHERE for point in faults.POINTS}
# The counts a service is armed with, per round: it dies at most this often per point.
KILLS_PER_SERVICE = 2
# Short deadlines so a round sees payment windows lapse, jobs re-run and messages come back.
SETTINGS: dict[str, object] = {
    **flows.FAST_RECOVERY,
    "payment_window_s": 15,
    "flash_sale_payment_window_s": 30,
}
REPORT = Path(os.environ.get("LIVELOOP_FAULT_REPORT", Path(tempfile.gettempdir()) / "liveloop-fault-report.json"))

# A batch takes about a minute on 2 cores; the bound is generous, never a speed assertion.
pytestmark = pytest.mark.timeout(600 + 180 * -(-SEEDS // BATCH))


class Record:
    """What the module saw, for the end-of-module checks and the report (docs/RELIABILITY.md)."""

    def __init__(self) -> None:
        self.later: list[tuple[str, Any]] = []
        self.rounds: list[dict[str, Any]] = []
        self.recovery: dict[str, float] = {}


@pytest.fixture(scope="module")
def record() -> Record:
    return Record()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def procs(infra: Infra) -> AsyncIterator[Procs]:
    # LIVELOOP_FAULT_LOGS=<dir> keeps every process's log there (a failing round's story is in them).
    keep = os.environ.get("LIVELOOP_FAULT_LOGS")
    with tempfile.TemporaryDirectory(prefix="liveloop-faults-") as workdir:
        logs = Path(keep) if keep else Path(workdir)
        logs.mkdir(parents=True, exist_ok=True)
        running = Procs(infra, logs, **SETTINGS)
        try:
            await running.start()
            yield running
        finally:
            await running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.database_url)
    yield conn
    await conn.close()


async def check_invariants(infra: Infra, *, timeout: float = 90.0) -> str:
    """Settle, then the invariant checker's verdict (it must be clean); its one-line summary."""
    from devstack.invariants import check_invariants as check
    from devstack.invariants import settle

    await settle(database_url=infra.database_url, nats_url=infra.nats_url, namespace=infra.namespace, timeout=timeout)
    verdict = await check(
        database_url=infra.database_url,
        nats_url=infra.nats_url,
        namespace=infra.namespace,
        stripe_base=infra.stripe_base,
    )
    verdict.assert_clean()
    return verdict.summary()


def _kills_of(procs: Procs, since: int, point: str) -> list[Kill]:
    return [k for k in procs.kills[since:] if k.point == point]


@pytest.mark.parametrize("point", sorted(faults.POINTS))
async def test_every_flow_survives_kills_at(point: str, procs: Procs, record: Record) -> None:
    seed = BASE_SEED + sorted(faults.POINTS).index(point)
    rng = random.Random(f"{point}/{seed}")
    since = len(procs.kills)
    failed: list[tuple[str, int, BaseException]] = []
    started = time.monotonic()
    for first in range(0, SEEDS, BATCH):
        # Small counts: each armed process gets there during the batch's flows.
        for service in WHERE[point]:
            await procs.arm(service, *(f"{point}:{rng.randint(1, 6)}" for _ in range(KILLS_PER_SERVICE)))
        runs = [
            (name, flow, seed * 1000 + n)
            for n in range(first, min(first + BATCH, SEEDS))
            for name, flow in flows.FLOWS.items()
        ]
        outcomes = await asyncio.gather(*(flow(procs, random.Random(s)) for _, flow, s in runs), return_exceptions=True)
        await procs.disarm_all()
        for (name, _, s), outcome in zip(runs, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                failed.append((name, s, outcome))
            elif callable(outcome):
                record.later.append((f"{name} seed {s}", outcome))
    took = time.monotonic() - started
    kills = _kills_of(procs, since, point)
    record.rounds.append(
        {
            "point": point,
            "seed": seed,
            "flows": SEEDS * len(flows.FLOWS),
            "kills": len(kills),
            "killed": sorted({k.service for k in kills}),
            "back_ready_s_max": round(max((k.ready_after_s or 0 for k in kills), default=0), 2),
            "round_s": round(took, 1),
        }
    )
    assert not failed, (
        f"crash point {point}, replay with LIVELOOP_CRASH_SEED={seed}: "
        + "; ".join(f"{name} (flow seed {s}): {type(o).__name__}: {o}" for name, s, o in failed)
        + "".join(
            f"\nthe first {kind}:\n" + "".join(traceback.format_exception(o))
            for kind, o in {type(o).__name__: o for _, _, o in reversed(failed)}.items()
        )
    )
    # A round in which nothing died tested nothing.
    assert kills, f"no process passed {point} during the round (seed {seed})"


async def test_payment_confirmed_while_orders_died_is_paid_soon_after_it_is_back(
    procs: Procs, infra: Infra, record: Record
) -> None:
    """Stripe charged; orders died before it heard the answer, and the webhook came while it was down (localstripe
    sends it once): the reconcile job, committed before the confirm, pays it once orders is back."""
    seller = await flows.new_seller(procs, 1800, stock=5)
    since = len(procs.kills)
    await procs.arm("orders", "stripe.confirmed:1")
    async with procs.client("orders", infra.token("buyer")) as orders:
        placed = await flows.send(
            orders, "POST", "/checkout", ok=(201,), key=True, json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]}
        )
        body = placed.json()
        # The confirm's connection is cut by the kill; the app does not retry a confirm, it reads the checkout.
        with contextlib.suppress(Exception):
            await orders.post(
                f"/payments/{body['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
            )
        (kill,) = await eventually(lambda: _kills_of(procs, since, "stripe.confirmed") or None, timeout=30)
        await eventually(lambda: kill.ready_after_s is not None, timeout=60)
        back_at = kill.at + (kill.ready_after_s or 0)
        await flows.checkout_paid(orders, body["checkout_id"])
    after_back = time.monotonic() - back_at
    record.recovery["paid_after_orders_back_s"] = round(after_back, 2)
    assert after_back < 30, f"paid {after_back:.1f}s after orders was back (promised: within 30 s)"
    assert list((await intents_of_checkout(procs, body["checkout_id"])).values()) == ["succeeded"]


async def test_a_due_job_whose_process_died_runs_again_within_its_lease(
    procs: Procs, db: asyncpg.Connection, infra: Infra, record: Record
) -> None:
    """orders dies inside a due job (its effect done, not committed); the job runs again once its lease lapses."""
    seller = await flows.new_seller(procs, 900, stock=5)
    since = len(procs.kills)
    await procs.arm("orders", "job.applied:1")
    async with procs.client("orders", infra.token("buyer")) as orders:
        placed = await flows.send(
            orders, "POST", "/checkout", ok=(201,), key=True, json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]}
        )
        await flows.pay(orders, placed.json()["payment"]["payment_id"])
        # The confirm schedules the reconcile job (2 s): orders dies running it, holding its lease.
        (kill,) = await eventually(lambda: _kills_of(procs, since, "job.applied") or None, timeout=60)
        # The jobs the dead process held; a self-rescheduling job (the orphan sweep) keeps its row with a new due_at.
        leased = await db.fetch("SELECT id, due_at FROM orders.due_jobs WHERE locked_until > now()")
        await flows.checkout_paid(orders, placed.json()["checkout_id"])

    async def ran_again() -> bool:
        ids, due = [row["id"] for row in leased], [row["due_at"] for row in leased]
        return not await db.fetchval(
            "SELECT count(*) FROM orders.due_jobs j JOIN unnest($1::bigint[], $2::timestamptz[]) AS held(id, due_at)"
            " ON j.id = held.id AND j.due_at = held.due_at",
            ids,
            due,
        )

    await eventually(ran_again, timeout=60, interval=0.1)
    again = time.monotonic() - kill.at
    record.recovery["job_ran_again_after_kill_s"] = round(again, 2)
    record.recovery["job_lease_s"] = float(SETTINGS["job_lease_s"])  # type: ignore[arg-type]
    assert leased, "the dead runner held no lease"
    assert again < 15, f"the job ran again {again:.1f}s after its process died (promised: about 15 s)"


async def test_an_intent_whose_recording_died_with_orders_is_cancelled_or_attached(
    procs: Procs, infra: Infra, record: Record
) -> None:
    """Stripe made a PaymentIntent and orders died before recording it; the buyer's app tries the checkout again
    (same key). The first intent is found by the orphan sweep: attached or cancelled, never charged."""
    seller = await flows.new_seller(procs, 700, stock=5)
    since = len(procs.kills)
    await procs.arm("orders", "stripe.intent_created:1")
    async with procs.client("orders", infra.token("buyer")) as orders:
        placed = await flows.send(
            orders, "POST", "/checkout", ok=(201,), key=True, json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]}
        )
        (kill,) = _kills_of(procs, since, "stripe.intent_created")
        body = placed.json()

        async def settled() -> dict[str, str] | None:
            found = await intents_of_checkout(procs, body["checkout_id"])
            # One intent the payment records, and the orphan cancelled (or the orphan is the one attached).
            return (
                found
                if len(found) >= 1
                and list(found.values()).count("requires_payment_method") <= 1
                and (len(found) == 1 or "canceled" in found.values())
                else None
            )

        intents = await eventually(settled, timeout=60, interval=0.2)
        orphan_settled = time.monotonic() - kill.at
        await flows.pay(orders, body["payment"]["payment_id"])
        await flows.checkout_paid(orders, body["checkout_id"])
    final = await intents_of_checkout(procs, body["checkout_id"])
    record.recovery["orphan_settled_after_kill_s"] = round(orphan_settled, 2)
    assert sorted(final.values()) in (["succeeded"], ["canceled", "succeeded"]), (intents, final)


async def test_nothing_was_lost_or_done_twice(procs: Procs, infra: Infra, record: Record) -> None:
    """After every round: the slow outcomes (a team that fails at its deadline) came, and the invariant checker finds
    every stock unit, charge, refund, voucher and event accounted for exactly once."""
    failures = []
    for name, later in record.later:
        try:
            await later()
        except Exception as exc:
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not failures, "; ".join(failures)
    summary = await check_invariants(infra)
    report = {
        "base_seed": BASE_SEED,
        "seeds_per_flow": SEEDS,
        "rounds": record.rounds,
        "kills": len(procs.kills),
        "recovery": record.recovery,
        "invariants": summary,
    }
    await asyncio.to_thread(REPORT.write_text, json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
