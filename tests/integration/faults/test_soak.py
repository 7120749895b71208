"""The soak (`make bench`): mixed traffic at a fixed rate for 30 minutes against the five services as real processes.

Every second, RATE user stories start (open loop: a slow answer does not slow the offered load), drawn by weight
from MIX: viewers joining a live room and watching it (state, bag, heartbeats, leave), checkouts paid by card,
flash-sale purchases paid or left to expire, after-sales refunds, voucher redemptions with undo and refund, and team
buys that fill or fail. They are the fault suite's flows (flows.py), without faults, plus the viewer.

What it reports (printed, and written as JSON to LIVELOOP_SOAK_REPORT, docs/RELIABILITY.md "Soak"):
- per endpoint (method and path with ids folded), the count and p50/p99 of the time to the answer's headers;
- every service's resident memory at the start (after warm-up) and at the end;
- the outbox backlog (rows not yet published, and the oldest one's age) and the consumers' lag (JetStream messages
  pending or awaiting an ack, over the namespace's streams), sampled every SAMPLE_S;
- the stories that failed, with their errors, and the invariant checker's verdict after the traffic settles.

It asserts what must hold however long it runs: every story ends as its user expects, the backlog and lag drain, and
the invariant checker is clean. The figures themselves are reported, never asserted.

`LIVELOOP_SOAK_MINUTES` (default 30) and `LIVELOOP_SOAK_RATE` (stories per second, default 2) size it.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import nats
import pytest
import pytest_asyncio

from tests.e2e.flows import Shopfront
from tests.harness import SERVICES, Infra
from tests.integration.faults import flows
from tests.integration.faults.procs import Procs

MINUTES = float(os.environ.get("LIVELOOP_SOAK_MINUTES", "30"))
RATE = float(os.environ.get("LIVELOOP_SOAK_RATE", "2"))
# Stories per kind, by weight: most traffic is people watching; some buy; a few ask for their money back.
MIX = {
    "viewer": 10,
    "checkout_and_pay": 4,
    "flash_sale": 1,
    "aftersales_refund": 2,
    "voucher_redeem_undo_refund": 2,
    "team_buy": 1,
}
# Stories running at once beyond which the generator stops starting new ones (counted, reported): the soak measures a
# steady state, not a pile-up of its own making.
MAX_IN_FLIGHT = 400
SAMPLE_S = 15.0
ROOMS = 3
SETTINGS: dict[str, object] = {
    "flash_sale_payment_window_s": 30,
    "checkout_rate_per_s": 100.0,
    "checkout_burst": 200,
    "purchase_rate_per_s": 100.0,
    "purchase_burst": 200,
    "join_rate_per_s": 100.0,
    "join_burst": 200,
}
REPORT = Path(os.environ.get("LIVELOOP_SOAK_REPORT", Path(tempfile.gettempdir()) / "liveloop-soak-report.json"))

pytestmark = [pytest.mark.bench, pytest.mark.timeout(int(MINUTES * 60) + 900)]

_ID = re.compile(
    r"/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|\d+|pi_\w+|[A-Z0-9]{8,})"
)


def endpoint(service: str, method: str, path: str) -> str:
    """`orders POST /payments/{id}/confirm`: one line per route, whatever the ids."""
    return f"{service} {method} {_ID.sub('/{id}', path)}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


class Soak:
    def __init__(self, procs: Procs) -> None:
        self.procs = procs
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, Counter[str]] = defaultdict(Counter)
        self.started: Counter[str] = Counter()
        self.ended: Counter[str] = Counter()
        self.failed: list[str] = []
        self.skipped = 0
        self.samples: list[dict[str, Any]] = []
        self.later: list[tuple[str, flows.Later]] = []

    def observe(self, service: str, method: str, path: str, status: int | None, seconds: float) -> None:
        name = endpoint(service, method, path)
        self.latency[name].append(seconds)
        self.statuses[name][str(status) if status is not None else "refused"] += 1

    def memory(self) -> dict[str, int | None]:
        return {s: rss_kib(served.process.pid) if served.process else None for s, served in self.procs.served.items()}


async def backlog(db: asyncpg.Connection, js: Any, namespace: str) -> dict[str, Any]:
    """Outbox rows not yet published (and the oldest's age) per service; consumer messages pending or unacked."""
    outbox = {}
    for service in SERVICES:
        row = await db.fetchrow(
            f"SELECT count(*) AS n, extract(epoch FROM now() - min(created_at)) AS age "
            f"FROM {service}.outbox WHERE published_at IS NULL"
        )
        outbox[service] = {"unpublished": row["n"], "oldest_s": round(float(row["age"] or 0), 2)}
    pending = unacked = 0
    for stream in await js.streams_info():
        if not stream.config.name.startswith(f"{namespace}_"):
            continue
        for consumer in await js.consumers_info(stream.config.name):
            pending += consumer.num_pending or 0
            unacked += consumer.num_ack_pending or 0
    return {"outbox": outbox, "consumer_pending": pending, "consumer_unacked": unacked}


async def viewer(procs: Procs, rng: random.Random, rooms: list[Shopfront]) -> None:
    """A buyer opens a live room, looks at what is pinned and in the bag, stays a while, and leaves."""
    room = rng.choice(rooms).room_id
    token = procs.infra.token("buyer", sub=f"viewer-{uuid.uuid4().hex[:10]}")
    async with procs.client("live", token) as live:
        await flows.send(live, "POST", f"/rooms/{room}/join", ok=(200,))
        await flows.send(live, "GET", f"/rooms/{room}/state", ok=(200,))
        await flows.send(live, "GET", f"/rooms/{room}/bag", ok=(200,))
        for _ in range(rng.randint(0, 2)):
            await asyncio.sleep(rng.uniform(1, 4))
            await flows.send(live, "POST", f"/rooms/{room}/heartbeat", ok=(200,))
        await flows.send(live, "POST", f"/rooms/{room}/leave", ok=(204,))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def procs(infra: Infra) -> AsyncIterator[Procs]:
    with tempfile.TemporaryDirectory(prefix="liveloop-soak-") as workdir:
        running = Procs(infra, Path(workdir), **SETTINGS)
        try:
            await running.start()
            yield running
        finally:
            await running.stop()


async def test_soak(procs: Procs, infra: Infra) -> None:
    from devstack.invariants import check_invariants, settle

    soak = Soak(procs)
    procs.observe = soak.observe
    rng = random.Random(int(os.environ.get("LIVELOOP_SOAK_SEED", "0")) or random.SystemRandom().randrange(1, 10**6))
    rooms = [await flows.open_shopfront(procs, stock=1000, price_minor=1999) for _ in range(ROOMS)]
    kinds, weights = list(MIX), list(MIX.values())
    db = await asyncpg.connect(infra.database_url)
    nc = await nats.connect(infra.nats_url)
    js = nc.jetstream()
    in_flight: set[asyncio.Task[None]] = set()

    async def story(kind: str, seed: int) -> None:
        soak.started[kind] += 1
        try:
            if kind == "viewer":
                await viewer(procs, random.Random(seed), rooms)
            else:
                later = await flows.FLOWS[kind](procs, random.Random(seed))
                if later is not None:
                    soak.later.append((f"{kind} seed {seed}", later))
            soak.ended[kind] += 1
        except Exception as exc:
            soak.failed.append(f"{kind} seed {seed}: {type(exc).__name__}: {exc}"[:500])

    async def sampler() -> None:
        while True:
            sample = {"t_s": round(time.monotonic() - began, 1), "in_flight": len(in_flight), "rss_kib": soak.memory()}
            sample |= await backlog(db, js, infra.namespace)
            soak.samples.append(sample)
            print(f"soak | {json.dumps(sample)}", flush=True)
            await asyncio.sleep(SAMPLE_S)

    try:
        memory_start = soak.memory()
        began = time.monotonic()
        sampling = asyncio.create_task(sampler())
        n = 0
        while (elapsed := time.monotonic() - began) < MINUTES * 60:
            # Open loop: the n-th story starts at n / RATE seconds, however long the others take.
            await asyncio.sleep(max(0.0, n / RATE - elapsed))
            n += 1
            if len(in_flight) >= MAX_IN_FLIGHT:
                soak.skipped += 1
                continue
            task = asyncio.create_task(story(rng.choices(kinds, weights)[0], rng.randrange(10**9)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        offered_s = time.monotonic() - began
        await asyncio.gather(*in_flight)
        for name, later in soak.later:
            try:
                await later()
            except Exception as exc:
                soak.failed.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
        sampling.cancel()
        memory_end = soak.memory()
        settled_at = time.monotonic()
        await settle(database_url=infra.database_url, nats_url=infra.nats_url, namespace=infra.namespace, timeout=120)
        drained_s = time.monotonic() - settled_at
        final = await backlog(db, js, infra.namespace)
        verdict = await check_invariants(
            database_url=infra.database_url,
            nats_url=infra.nats_url,
            namespace=infra.namespace,
            stripe_base=infra.stripe_base,
        )
    finally:
        procs.observe = None
        await nc.close()
        await db.close()

    report = {
        "minutes": MINUTES,
        "rate_per_s": RATE,
        "offered_s": round(offered_s, 1),
        "stories": {k: {"started": soak.started[k], "ended": soak.ended[k]} for k in MIX},
        "skipped_over_max_in_flight": soak.skipped,
        "failed": soak.failed,
        "endpoints": {
            name: {
                "count": len(values),
                "p50_ms": round(percentile(values, 50) * 1000, 1),
                "p99_ms": round(percentile(values, 99) * 1000, 1),
                "statuses": dict(soak.statuses[name]),
            }
            for name, values in sorted(soak.latency.items())
        },
        "rss_kib": {"start": memory_start, "end": memory_end},
        "backlog_max": {
            "outbox_unpublished": max(sum(o["unpublished"] for o in s["outbox"].values()) for s in soak.samples),
            "outbox_oldest_s": max(max(o["oldest_s"] for o in s["outbox"].values()) for s in soak.samples),
            "consumer_pending": max(s["consumer_pending"] for s in soak.samples),
            "consumer_unacked": max(s["consumer_unacked"] for s in soak.samples),
        },
        "backlog_end": final,
        "drained_after_traffic_s": round(drained_s, 1),
        "invariants": verdict.summary(),
        "violations": verdict.violations,
        "samples": soak.samples,
    }
    await asyncio.to_thread(REPORT.write_text, json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    assert not soak.failed, f"{len(soak.failed)} stories failed: " + "; ".join(soak.failed[:10])
    assert sum(soak.ended.values()) == sum(soak.started.values())
    verdict.assert_clean()
