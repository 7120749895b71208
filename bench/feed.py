"""Feed fan-out benchmark: N viewers on one live instance's room feed while a flash sale in the room sells out.

    python -m bench.feed --viewers 2000 [--viewers 5000 ...] [--stock S] [--buyers B] [--in-flight K]
    python -m bench.feed --live-url URL --shop-url URL --orders-url URL [--database-url DSN] --viewers N

By default it starts its own shop, orders and ONE live instance (`liveloop serve`, bench/stack.py) on free ports
against a fresh database and NATS namespace, a fresh stack for each size (so that live's memory starts from a fresh
process every time), and stops them by PID afterwards. For each size N:

  1. a new merchant, product, live room and running flash sale of S units (per-buyer limit 1), through the API
     (bench/scenario.py); then 2 x 64 `GET /rooms/{room}/state` at once, so that live's database pool is full before
     anything is measured (a Postgres backend opened later would be missing from the CPU meter's list);
  2. join: a viewer process (bench/feed_viewers.py: raw asyncio protocols on uvloop, a tiny SSE reader) opens N
     `GET /rooms/{room}/feed` streams, at most K at once waiting for their first event (`state`);
  3. sale: B buyers over HTTP (httpx, one token each) buy until a purchase answers 409 sold-out, while the viewers
     listen; every viewer must receive the room's `sale.sold_out` event for the sale;
  4. leave: every viewer disconnects; live's RSS is read again once it has gone quiet.

It prints, per size: viewers connected and failed, viewers joined per second (first connect attempt to the last
first event), live's RSS before joining, with everyone joined (KB per viewer) and after they left; the sold-out
event's delivery latency from its commit (the event's `occurred_at`, read from live's outbox) and from the last 201
as its buyer saw it, to the first, p50, p99 and last viewer; feed events delivered per second; live's cores (and
everyone else's: `other`) while joining and during the fan-out, live's CPU per join and per delivered event.
`--profile DIR` adds py-spy profiles of live (native frames) while joining and during the sale, put in buckets and
priced per join and per delivery (bench/feed_profile.py; py-spy pauses live to sample it, so profiled runs are a little
slower). Exit 1 if any viewer failed to connect or stay, or missed the sold-out event; 2 if it could not run.
`--summary PATH` writes issue 14's figures of every size to PATH as JSON for `python -m bench.targets`
(bench/targets.py), also when a size failed its checks, not when the benchmark could not run.

The open-file limit of this process is raised to its hard limit first (`resource.setrlimit`): live inherits it
through bench/stack.py, and each viewer process raises its own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import feed_profile, feed_sale, scenario, targets
from bench.cpu import Meter, Sample, cores_between
from bench.feed_report import FeedResult, FeedRun, Memory, failures, render, summarize
from bench.feed_sale import CannotRun, clock_offset_ns
from bench.feed_viewers import Spec, ViewerRecord, raise_nofile, viewers_process
from bench.stack import REPO_ROOT, Target, own_stack
from devstack import embedded
from devstack.embedded import StartupError
from libs.settings import DEV_JWT_SECRET

# Descriptors live needs beyond its viewers (pool, NATS, listening socket, logs, the buyers' connections).
SPARE_FDS = 256


def _say(message: str) -> None:
    print(f"bench | {message}", flush=True)


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.feed", description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", "-N", type=int, action="append", help="viewers (repeat for several sizes)")
    parser.add_argument("--stock", "-S", type=int, default=100, help="units on sale (default 100)")
    parser.add_argument("--buyers", "-B", type=int, default=8, help="concurrent buyers (default 8)")
    parser.add_argument("--in-flight", type=int, default=256, help="viewers joining at once (default 256)")
    parser.add_argument("--viewer-procs", type=int, default=1, help="viewer processes sharing the N (default 1)")
    parser.add_argument("--db-pool-max", type=int, default=10, help="LIVELOOP_DB_POOL_MAX of live (own stack)")
    parser.add_argument("--join-timeout-s", type=float, help="bound on joining (default 30 s + N / 100)")
    parser.add_argument("--watch-timeout-s", type=float, help="bound on the sale and fan-out (default 60 s + N / 50)")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of live go here")
    parser.add_argument("--summary", type=Path, help="write issue 14's figures here as JSON (bench.targets)")
    parser.add_argument("--live-url")
    parser.add_argument("--shop-url")
    parser.add_argument("--orders-url")
    parser.add_argument("--database-url", help="live's database (its outbox has the sold-out event's time)")
    parser.add_argument("--jwt-secret", default=os.environ.get("LIVELOOP_JWT_SECRET", DEV_JWT_SECRET))
    args = parser.parse_args(argv)
    args.viewers = args.viewers or [2000]
    given = [args.live_url, args.shop_url, args.orders_url]
    if any(given) and not all(given):
        parser.error("--live-url, --shop-url and --orders-url go together")
    for name in ("stock", "buyers", "in_flight", "viewer_procs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if min(args.viewers) < 1:
        parser.error("--viewers must be at least 1")
    return args


@dataclass(frozen=True)
class Options:
    """How each size runs (from the command line, or a test)."""

    stock: int = 100
    buyers: int = 8
    in_flight: int = 256
    viewer_procs: int = 1
    join_timeout_s: float | None = None
    watch_timeout_s: float | None = None
    profile: Path | None = None
    database_url: str | None = None  # live's database, when not a stack we started


# --- the live process, from the OS -----------------------------------------------------------------------------


def _live_process(target: Target) -> Any:
    pids = target.pids.get("live") or []
    if not pids:
        return None
    import psutil

    try:
        return psutil.Process(pids[0])
    except psutil.Error:
        return None


def _rss(proc: Any) -> int | None:
    if proc is None:
        return None
    import psutil

    with contextlib.suppress(psutil.Error):
        return proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
    return None


def _established(proc: Any, port: int) -> int | None:
    """Live's established TCP connections on its HTTP port."""
    if proc is None:
        return None
    import psutil

    with contextlib.suppress(psutil.Error):
        return sum(1 for c in proc.net_connections(kind="tcp") if c.status == "ESTABLISHED" and c.laddr.port == port)
    return None


def _nofile_of(proc: Any) -> int | None:
    if proc is None:
        return None
    import psutil

    with contextlib.suppress(psutil.Error, AttributeError):
        return proc.rlimit(psutil.RLIMIT_NOFILE)[0]
    return None


def _live_cpu_s(samples: Sequence[Sample], start_ns: int | None, end_ns: int | None) -> float | None:
    """Live's CPU seconds over [start, end] (from its cores there: the samples inside are 0.1 s apart)."""
    if start_ns is None or end_ns is None or end_ns <= start_ns:
        return None
    cores = cores_between(samples, start_ns, end_ns)
    return cores["live"] * (end_ns - start_ns) / 1e9 if "live" in cores else None


def _database_url(target: Target, options: Options) -> str | None:
    if options.database_url:
        return options.database_url
    if target.admin_dsn and target.database:
        return embedded.dsn_for_database(target.admin_dsn, target.database)
    return None


# --- the viewers -----------------------------------------------------------------------------------------------


class Viewers:
    """The viewer processes (spawned), each holding its share of the N connections."""

    def __init__(self, specs: Sequence[Spec]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipes: list[Any] = []
        self.procs: list[Any] = []
        for spec in specs:
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=viewers_process, args=(child, spec), name="bench-feed-viewers", daemon=True)
            proc.start()
            child.close()
            self.pipes.append(parent)
            self.procs.append(proc)

    def limits(self) -> list[tuple[int, int, int]]:
        """Each process's open-file limit: (soft before, hard, soft now)."""
        return [self._expect(pipe, "limits", 60.0) for pipe in self.pipes]

    @staticmethod
    def _expect(pipe: Any, what: str, timeout_s: float) -> Any:
        if not pipe.poll(timeout_s):
            raise CannotRun(f"the viewer process did not answer {what!r} within {timeout_s:.0f} s")
        try:
            kind, value = pipe.recv()
        except EOFError:
            raise CannotRun(f"the viewer process exited before {what!r}") from None
        if kind != what:
            raise CannotRun(f"the viewer process answered {kind!r}, not {what!r}")
        return value

    def ask(self, command: str, arg: Any, answer: str, timeout_s: float) -> list[ViewerRecord]:
        """Send a command to every viewer process; their answers' records, together."""
        for pipe in self.pipes:
            pipe.send((command, arg))
        out: list[ViewerRecord] = []
        for pipe in self.pipes:
            out.extend(self._expect(pipe, answer, timeout_s) or [])
        return out

    def close(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError, BrokenPipeError):
                pipe.send(("close", None))
        for pipe in self.pipes:
            with contextlib.suppress(CannotRun, OSError, EOFError):
                self._expect(pipe, "closed", 30.0)
        for proc in self.procs:
            proc.join(10)
            if proc.is_alive():  # ours, by its PID
                proc.terminate()
                proc.join(5)


def _specs(live_url: str, sale: scenario.Sale, viewers: int, options: Options, join_timeout_s: float) -> list[Spec]:
    parts = urllib.parse.urlsplit(live_url)
    procs = min(options.viewer_procs, viewers)
    share, extra = divmod(viewers, procs)
    specs, first = [], 0
    for n in range(procs):
        count = share + (1 if n < extra else 0)
        in_flight = max(1, options.in_flight // procs)
        specs.append(
            Spec(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                sale.room_id,
                sale.sale_id,
                count,
                in_flight,
                join_timeout_s,
                first,
            )
        )
        first += count
    return specs


@contextlib.contextmanager
def _profiled(options: Options, target: Target, name: str) -> Iterator[None]:
    pids = target.pids.get("live") or []
    if options.profile is None or not pids:
        yield
        return
    with feed_profile.recording(pids[0], options.profile / f"{name}-live.txt"):
        yield


# --- one size --------------------------------------------------------------------------------------------------


def run_size(target: Target, viewers: int, options: Options) -> FeedResult:
    """Set up a sale, join N viewers, sell it out, let them go; the figures."""
    run = uuid.uuid4().hex[:8]
    live_url = target.urls["live"]
    live = _live_process(target)
    live_nofile = _nofile_of(live)
    if live_nofile is not None and live_nofile < viewers + SPARE_FDS:
        raise CannotRun(f"live may open {live_nofile} files: too few for {viewers} viewers (+{SPARE_FDS})")
    sale = scenario.set_up_sale(target.urls, target.jwt_secret, run, stock=options.stock)
    _say(f"{viewers} viewers: sale {sale.sale_id} of {options.stock} units running in room {sale.room_id}")
    tokens = scenario.buyer_tokens(target.jwt_secret, run, options.stock + 4 * options.buyers + 16)
    join_timeout_s = options.join_timeout_s or 30.0 + viewers / 100
    watch_timeout_s = options.watch_timeout_s or 60.0 + viewers / 50
    meter = Meter(target)
    port = urllib.parse.urlsplit(live_url).port or 80
    asyncio.run(feed_sale.warm(live_url, sale.room_id, min(options.in_flight, 64)))
    time.sleep(0.5)  # the set-up's requests and events settle before the baseline
    rss_before = _rss(live)

    specs = _specs(live_url, sale, viewers, options, join_timeout_s)
    fleet = Viewers(specs)
    try:
        limits = fleet.limits()
        for spec, (_, hard, soft) in zip(specs, limits, strict=True):
            if soft < spec.count + 64:
                raise CannotRun(f"a viewer process may open {soft} files (hard limit {hard}): too few for {spec.count}")
        _say(f"{viewers} viewers: joining, at most {options.in_flight} at once")
        with meter.sampling(0.1) as join_cpu, _profiled(options, target, f"{viewers}-join"):
            for n, proc in enumerate(fleet.procs):
                meter.watch("viewers" if n == 0 else f"viewers-{n + 1}", proc.pid)
            meter.watch("bench", os.getpid())
            joined = fleet.ask("join", None, "joined", join_timeout_s + 60)
        connected = sum(1 for r in joined if r.state_ns)
        _say(f"{viewers} viewers: {connected} joined")
        time.sleep(0.5)
        rss_joined = _rss(live)

        _say(f"{viewers} viewers: {options.buyers} buyers buy the {options.stock} units out")
        offset_ns = clock_offset_ns()
        with meter.sampling(0.1) as sale_cpu, _profiled(options, target, f"{viewers}-sale"):
            for n, proc in enumerate(fleet.procs):
                meter.watch("viewers" if n == 0 else f"viewers-{n + 1}", proc.pid)
            meter.watch("bench", os.getpid())  # the buyers, and this process's CPU meter
            for pipe in fleet.pipes:
                pipe.send(("watch", watch_timeout_s))
            purchases = asyncio.run(feed_sale.buy_out(sale.purchase_url(live_url), tokens, options.buyers))
            watched: list[ViewerRecord] = []
            for pipe in fleet.pipes:
                watched.extend(Viewers._expect(pipe, "watched", watch_timeout_s + 60))
        if not any(p.status == 409 and p.problem == "sold-out" for p in purchases):
            statuses = sorted({(p.status, p.problem) for p in purchases})
            raise CannotRun(f"the sale never sold out: {len(purchases)} purchases answered {statuses}")
    finally:
        fleet.close()
    # Gone: how much live gives back, and whether it let go of every connection.
    quiet_s = meter.wait_quiet(("live",), below=0.02, window_s=1.0, timeout_s=30.0) if live is not None else None
    rss_after = _rss(live)
    open_after = _established(live, port)

    dsn = _database_url(target, options)
    sold_out_ns, relay_ns = asyncio.run(feed_sale.sold_out_event(dsn, sale.sale_id, offset_ns)) if dsn else (None, None)
    records = watched or joined  # the same viewers, further along
    first_attempt = min((r.started_ns for r in joined if r.started_ns), default=None)
    last_state = max((r.state_ns for r in joined if r.state_ns), default=None)
    first_purchase = min((p.start_ns for p in purchases), default=None)
    last_seen = max((r.sold_out_ns for r in records if r.sold_out_ns), default=None)
    cores = {
        "join": cores_between(join_cpu, first_attempt or 0, last_state or 0),
        "sale": cores_between(sale_cpu, first_purchase or 0, last_seen or 0),
        "fanout": cores_between(sale_cpu, sold_out_ns or 0, last_seen or 0),
    }
    live_cpu = {
        "join": _live_cpu_s(join_cpu, first_attempt, last_state),
        "sale": _live_cpu_s(sale_cpu, first_purchase, last_seen),
        "fanout": _live_cpu_s(sale_cpu, sold_out_ns, last_seen),
    }
    nofile = {"live": live_nofile or 0, "viewers": min(soft for _, _, soft in limits)}
    memory = Memory(rss_before, rss_joined, rss_after) if rss_before is not None and rss_joined is not None else None
    result = summarize(
        FeedRun(
            viewers=viewers,
            records=records,
            purchases=purchases,
            stock=options.stock,
            sold_out_ns=sold_out_ns,
            relay_ns=relay_ns,
            memory=memory,
            open_after=open_after,
            quiet_after_s=quiet_s,
            cores={phase: c for phase, c in cores.items() if c},
            live_cpu_s={phase: s for phase, s in live_cpu.items() if s is not None},
            nofile=nofile,
        )
    )
    _say(
        f"{viewers} viewers: {result.connected} connected, {result.missed} missed the sold-out, "
        f"last viewer {result.from_commit.last_ms or 0:.0f} ms after the commit"
    )
    return result


def run(target: Target, sizes: Sequence[int], options: Options) -> list[FeedResult]:
    """Every size, one after another, on the same stack (a running one; main starts a fresh stack per size)."""
    return [run_size(target, n, options) for n in sizes]


def _profile_summaries(options: Options, results: Sequence[FeedResult]) -> None:
    """Live's busy CPU while joining and during the sale, in buckets, per join and per delivery."""
    if options.profile is None:
        return
    for result in results:
        n = result.run.viewers
        per_join = result.run.live_cpu_s.get("join")
        per_delivery = result.run.live_cpu_s.get("sale")
        phases = (
            ("join", f"while {n} viewers joined", per_join * 1e6 / result.connected if per_join and result.connected
             else None, "join"),
            ("sale", f"during the sale and fan-out to {n} viewers", per_delivery * 1e6 / result.deliveries
             if per_delivery and result.deliveries else None, "delivery"),
        )  # fmt: skip
        for phase, label, per_us, unit in phases:
            path = options.profile / f"{n}-{phase}-live.txt"
            if path.exists():
                print(f"\nlive {label} (py-spy --native, {path}):")
                print(feed_profile.render(path.read_text().splitlines(), per_us, unit))


def main(argv: list[str] | None = None) -> int:
    """Run every size and print the table; 1 if a viewer failed or missed the sold-out event, 2 if it could not."""
    args = _args(argv)
    if args.summary is not None:
        args.summary.unlink(missing_ok=True)  # an earlier run's must not pass for this one's if this one cannot run
    soft_before, hard, soft = raise_nofile()  # before the stack: live inherits it
    _say(f"open files: soft limit {soft_before}, hard {hard}; now {soft} (live and the viewer processes inherit it)")
    options = Options(
        stock=args.stock,
        buyers=args.buyers,
        in_flight=args.in_flight,
        viewer_procs=args.viewer_procs,
        join_timeout_s=args.join_timeout_s,
        watch_timeout_s=args.watch_timeout_s,
        profile=args.profile,
        database_url=args.database_url,
    )
    settings: dict[str, object] = {
        "S": args.stock,
        "buyers": args.buyers,
        "in_flight": args.in_flight,
        "viewer_procs": args.viewer_procs,
        "nofile": f"{soft_before}->{soft}",
    }
    try:
        if args.live_url:
            target = Target(
                urls={"live": args.live_url, "shop": args.shop_url, "orders": args.orders_url},
                jwt_secret=args.jwt_secret,
                live_urls=(args.live_url,),
            )
            results = run(target, args.viewers, options)
        else:
            settings |= {"live_instances": 1, "db_pool_max": args.db_pool_max, "cores": os.cpu_count()}
            results = []
            # A fresh stack per size: live's memory before the viewers is a fresh process's, not what the
            # previous size left behind (CPython keeps what it freed for reuse).
            for n in args.viewers:
                with own_stack(
                    live_instances=1,
                    live_workers=1,
                    env_overrides={"LIVELOOP_DB_POOL_MAX": str(args.db_pool_max)},
                    logs_root=REPO_ROOT / ".liveloop" / "bench",
                ) as target:
                    results.append(run_size(target, n, options))
    except (scenario.SetupError, StartupError, CannotRun, OSError, httpx.HTTPError, asyncpg.PostgresError) as exc:
        print(f"bench | could not run: {exc}", file=sys.stderr)
        return 2
    print("\n" + render(results, settings) + "\n", flush=True)
    if args.summary is not None:
        targets.write(args.summary, targets.feed_summary(results, settings))
    _profile_summaries(options, results)
    broken = [line for result in results for line in failures(result)]
    for line in broken:
        print(f"  FAILED: {line}", flush=True)
    if not broken:
        print("  OK: every viewer connected and got the sold-out event", flush=True)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
