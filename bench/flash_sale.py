"""Flash-sale benchmark: B buyers race for S units over HTTP, measured against a trivial endpoint.

    python -m bench.flash_sale [--stock S] [--buyers B] [--concurrency C] [--live-instances N]
    python -m bench.flash_sale --live-url URL [--live-url URL2] --shop-url URL --orders-url URL [--jwt-secret S]

By default it starts its own shop, orders and two live instances (`liveloop serve`, as production
runs them; wrk's threads split the connections evenly between the instances, as a load balancer would)
on free ports against a fresh database and NATS namespace, and stops them by PID afterwards (the
Postgres and NATS on 127.0.0.1:5432/4222 when they answer, else embedded ones; BENCH_DATABASE_URL
and BENCH_NATS_URL point elsewhere). With the three URLs it targets a running stack instead
(tokens signed with --jwt-secret, default $LIVELOOP_JWT_SECRET or the dev secret). It sets up a
merchant, a product with S units, a live room and a running sale of S units (per-buyer limit 1),
then with wrk (bench/flash_sale.lua):

  1. ceiling: B requests to POST /echo (same process, same middleware and auth), C connections;
  2. sale: B purchases, each a different buyer, same wrk settings;
  3. ceiling again, once orders has created every admitted order; the ceiling is the mean of 1
     and 3 (drift during the run shows, and cancels).

It prints requests/s and the ratio to the ceiling (overall, while stock lasts, after sold out),
admissions/s, p50/p99 of admitted and rejected requests, oversold, remaining, and lost (admitted
orders that orders still lacks after --orders-wait-s), and, for a stack it started, how the CPU was
shared between the services, their Postgres backends, wrk and everything else (--profile adds
py-spy profiles). Exit 1 if anything was oversold or lost, 2 if it could not run.

`--summary PATH` writes issue 14's figures of every run (with --repeat N, all N in order: the targets table takes
their medians, as the printed summary does) to PATH as JSON for `python -m bench.targets` (bench/targets.py), also
when a run failed its checks, not when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
import urllib.parse
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench import profile, scenario, targets
from bench.cpu import Meter, Sample, cores_between
from bench.report import Report, failures, render, render_summary
from bench.results import CeilingResult, ceiling_result, sale_result
from bench.stack import REPO_ROOT, Target, bare_servers, own_stack
from bench.wrk import LoadSpec, Run, WrkError, ensure_wrk
from bench.wrk import run as run_wrk
from devstack.embedded import StartupError
from libs.settings import DEV_JWT_SECRET


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flash_sale", description=__doc__.splitlines()[0])
    parser.add_argument("--stock", "-S", type=int, default=1000, help="units on sale (default 1000)")
    parser.add_argument("--buyers", "-B", type=int, default=20000, help="buyers, one request each (default 20000)")
    parser.add_argument("--concurrency", "-C", type=int, default=256, help="open connections (default 256)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--live-instances", type=int, default=2, help="live processes, load split evenly (own stack)")
    parser.add_argument("--live-workers", type=int, default=1, help="uvicorn workers per live instance (own stack)")
    parser.add_argument("--db-pool-max", type=int, default=10, help="LIVELOOP_DB_POOL_MAX per process (own stack)")
    parser.add_argument("--orders-wait-s", type=float, default=60.0, help="how long orders may take to appear")
    parser.add_argument("--max-seconds", type=int, default=300, help="upper bound on each wrk run")
    parser.add_argument("--live-url", action="append", help="a live instance (repeat for several)")
    parser.add_argument("--shop-url")
    parser.add_argument("--orders-url")
    parser.add_argument("--jwt-secret", default=os.environ.get("LIVELOOP_JWT_SECRET", DEV_JWT_SECRET))
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of the services go here")
    parser.add_argument("--repeat", type=int, default=1, help="runs on the same stack, each with a new sale")
    parser.add_argument("--summary", type=Path, help="write issue 14's figures here as JSON (bench.targets)")
    parser.add_argument(
        "--no-bare", action="store_true", help="skip the bare Litestar app (the framework's ceiling, bench.bare)"
    )
    args = parser.parse_args(argv)
    given = [args.live_url, args.shop_url, args.orders_url]
    if any(given) and not all(given):
        parser.error("--live-url, --shop-url and --orders-url go together")
    for name in ("stock", "buyers", "concurrency", "threads", "live_instances", "live_workers", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    instances = len(args.live_url) if args.live_url else args.live_instances
    if args.threads % instances:
        parser.error(f"--threads ({args.threads}) must be a multiple of the live instances ({instances})")
    return args


def _say(message: str) -> None:
    print(f"bench | {message}", flush=True)


@contextlib.contextmanager
def _profiled(args: argparse.Namespace, target: Target, run: str) -> Iterator[None]:
    """Profile our services during this run when --profile asks (only for a stack we started)."""
    if args.profile is None or not target.pids:
        yield
        return
    args.profile.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as recordings:
        for name, pids in target.pids.items():
            for n, pid in enumerate(pids, 1):
                recordings.enter_context(profile.recording(pid, args.profile / f"{run}-{name}-{n}.txt"))
        yield


def _ms_per(samples: list[Sample], name: str, count: int) -> float | None:
    """CPU milliseconds `name` spent over the samples, per `count` requests."""
    if len(samples) < 2 or not count or name not in samples[0].used or name not in samples[-1].used:
        return None
    return (samples[-1].used[name] - samples[0].used[name]) * 1000 / count


def _orders_ms(samples: list[Sample], admitted: int) -> float | None:
    shop, orders = _ms_per(samples, "shop", admitted), _ms_per(samples, "orders", admitted)
    return None if shop is None or orders is None else shop + orders


def _load(
    wrk: str,
    target: Target,
    path: str,
    tokens: list[str],
    spec: LoadSpec,
    run_id: str,
    meter: Meter | None,
    urls: Sequence[str] = (),
) -> Run:
    """One wrk run against every live instance, or `urls` (threads split evenly between them)."""
    urls = tuple(urls) or target.live_urls or (target.urls["live"],)
    addresses = [urllib.parse.urlsplit(url).netloc for url in urls] if len(urls) > 1 else []
    on_start = functools.partial(meter.watch, "wrk") if meter is not None else None
    return run_wrk(wrk, f"{urls[0]}{path}", tokens, spec, run_id=run_id, on_start=on_start, addresses=addresses)


def _ceiling(
    wrk: str,
    target: Target,
    tokens: list[str],
    spec: LoadSpec,
    run_id: str,
    meter: Meter | None = None,
    urls: Sequence[str] = (),
) -> CeilingResult:
    result = _load(wrk, target, "/echo", tokens, spec, run_id, meter, urls)
    ceiling = ceiling_result(result.records, result.sent)
    if ceiling.ok < ceiling.completed:
        statuses = sorted({r.status for r in result.records})
        raise WrkError(f"POST /echo answered {statuses}, not only 2xx: is /echo deployed?")
    return ceiling


def bench(
    target: Target, args: argparse.Namespace, wrk: str, settings: dict[str, object], bare_urls: Sequence[str] = ()
) -> Report:
    """Set up the sale; run ceiling, sale, wait for the orders, ceiling again; check stock and orders."""
    run = uuid.uuid4().hex[:8]
    sale = scenario.set_up_sale(target.urls, target.jwt_secret, run, stock=args.stock)
    _say(f"sale {sale.sale_id} running in room {sale.room_id} with {args.stock} units")
    tokens = scenario.buyer_tokens(target.jwt_secret, run, args.buyers)
    spec = LoadSpec(concurrency=args.concurrency, threads=args.threads, max_seconds=args.max_seconds)

    # Warm-up, not measured: connections, routes, and every buyer's token. The buyers of a live sale are viewers of
    # the room, whose apps have called the instance they reach (join, state, bag) before the host says "go", so each
    # token was verified there already (libs.auth.VerifiedTokens); wrk sends token i to the same instance every run.
    _ceiling(wrk, target, tokens, spec, f"w{run}")
    meter = Meter(target)
    bare: list[tuple[str, CeilingResult]] = []
    if bare_urls:
        _ceiling(wrk, target, tokens[: min(len(tokens), 2000)], spec, f"v{run}", urls=bare_urls)
        _say(f"framework 1: {args.buyers} x POST /echo on bare Litestar")
        bare.append(("before", _ceiling(wrk, target, tokens, spec, f"b{run}", urls=bare_urls)))
    _say(f"ceiling 1: {args.buyers} x POST /echo")
    with _profiled(args, target, "ceiling"), meter.sampling() as cpu_before:
        before = _ceiling(wrk, target, tokens, spec, f"c{run}", meter)
    _say(f"sale: {args.buyers} buyers x POST .../purchase")
    live_urls = target.live_urls or (target.urls["live"],)
    batches_before = scenario.batch_writes(live_urls)
    # Finer than the ceilings': 1,000 units sell out in about 0.3 s, and the window needs two samples inside it.
    with meter.sampling(interval_s=0.1) as cpu_sale:
        with _profiled(args, target, "sale"):
            path = sale.purchase_url("")
            sale_run = _load(wrk, target, path, tokens, spec, f"s{run}", meter)
        result = sale_result(sale_run.records, stock=args.stock, sent=sale_run.sent)
        remaining = scenario.remaining_units(target.urls, sale)
        buyer_of = {f"s{run}-{i}": f"bench-{run}-{i}" for i in range(len(tokens))}
        admitted = {r.order_id: buyer_of[r.request_id] for r in sale_run.records if r.status == 201 and r.order_id}
        no_order_id = [r.request_id for r in sale_run.records if r.status == 201 and not r.order_id]
        _say(f"looking for {len(admitted)} orders among the merchant's (up to {args.orders_wait_s:.0f} s)")
        check = scenario.check_orders(target.urls, target.jwt_secret, sale, admitted, orders_wait_s=args.orders_wait_s)
    lost = check.missing + no_order_id
    notes = [
        f"orders looked up right after the sale run: {len(admitted) - check.absent_at_first_look} of {len(admitted)}"
        f" already there; all there (or given up) {check.seconds:.1f} s later"
    ]
    batches = scenario.batch_note(batches_before, scenario.batch_writes(live_urls))
    if batches is not None:
        notes.append(batches)
    # Measured once the orders are all there and shop and orders are done with the sale's events, like the
    # first: both ceilings see a quiet stack.
    quiet_s = meter.wait_quiet(("shop", "orders", "postgres"))
    notes.append(f"shop, orders and their Postgres backends went quiet {quiet_s:.1f} s after that")
    _say(f"ceiling 2: {args.buyers} x POST /echo")
    with meter.sampling() as cpu_after:
        after = _ceiling(wrk, target, tokens, spec, f"d{run}", meter)
    if bare_urls:
        _say(f"framework 2: {args.buyers} x POST /echo on bare Litestar")
        bare.append(("after", _ceiling(wrk, target, tokens, spec, f"e{run}", urls=bare_urls)))
    if not sale_run.finished:
        notes.append(f"the sale run hit the {args.max_seconds} s bound before every response was in")
    cut = result.sold_out_ns or result.last_ns
    cores = [
        ("ceiling before", cores_between(cpu_before, before.first_ns, before.last_ns)),
        ("sale, while stock lasts", cores_between(cpu_sale, result.first_ns, cut)),
        ("sale, after sold out", cores_between(cpu_sale, cut, result.last_ns)),
        ("ceiling after", cores_between(cpu_after, after.first_ns, after.last_ns)),
    ]
    cpu_ms = [
        ("live, per /echo (ceiling before)", _ms_per(cpu_before, "live", before.completed)),
        ("live, per purchase (sale)", _ms_per(cpu_sale, "live", result.completed)),
        ("live, per /echo (ceiling after)", _ms_per(cpu_after, "live", after.completed)),
        ("shop + orders, per admitted order (until quiet)", _orders_ms(cpu_sale, result.admitted)),
        ("postgres, per admitted order (until quiet)", _ms_per(cpu_sale, "postgres", result.admitted)),
    ]
    return Report(
        settings=settings,
        ceilings=[("before", before), ("after", after)],
        sale=result,
        remaining=remaining,
        lost=lost,
        wrong_orders=check.wrong,
        orders_wait_s=args.orders_wait_s,
        notes=notes,
        cpu_ms=[(label, value) for label, value in cpu_ms if value is not None],
        cpu_cores=[(label, split) for label, split in cores if split],
        bare=bare,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; 1 if anything was oversold or lost, 2 if it could not run."""
    args = _args(argv)
    if args.summary is not None:
        args.summary.unlink(missing_ok=True)  # an earlier run's must not pass for this one's if this one cannot run
    try:
        wrk = ensure_wrk(install=not args.no_install)
    except WrkError as exc:
        print(f"bench | {exc}", file=sys.stderr)
        return 2
    settings: dict[str, object] = {
        "S": args.stock,
        "B": args.buyers,
        "C": args.concurrency,
        "wrk_threads": args.threads,
    }
    reports: list[Report] = []

    bare_urls: tuple[str, ...] = ()

    def run_all(target: Target) -> None:
        for n in range(1, args.repeat + 1):
            if args.repeat > 1:
                _say(f"run {n} of {args.repeat}")
            reports.append(bench(target, args, wrk, settings, bare_urls))
            print("\n" + render(reports[-1]) + "\n", flush=True)

    with contextlib.ExitStack() as stack:
        try:
            if not args.no_bare:
                # As many processes as live instances, loaded the same way: the framework alone, served alike.
                count = len(args.live_url) if args.live_url else args.live_instances
                bare_urls = stack.enter_context(bare_servers(count, REPO_ROOT / ".liveloop" / "bench"))
            if args.live_url:
                target = Target(
                    urls={"live": args.live_url[0], "shop": args.shop_url, "orders": args.orders_url},
                    jwt_secret=args.jwt_secret,
                    live_urls=tuple(args.live_url),
                )
                run_all(target)
            else:
                settings |= {
                    "live_instances": args.live_instances,
                    "workers_each": args.live_workers,
                    "db_pool_max": args.db_pool_max,
                }
                overrides = {"LIVELOOP_DB_POOL_MAX": str(args.db_pool_max)}
                with own_stack(
                    live_instances=args.live_instances,
                    live_workers=args.live_workers,
                    env_overrides=overrides,
                    logs_root=REPO_ROOT / ".liveloop" / "bench",
                ) as target:
                    run_all(target)
        except (scenario.SetupError, WrkError, StartupError) as exc:
            print(f"bench | could not run: {exc}", file=sys.stderr)
            return 2
    if len(reports) > 1:
        print(render_summary(reports), flush=True)
    if args.summary is not None and reports:
        targets.write(args.summary, targets.flash_summary(reports))
    if args.profile is not None:
        for run, name in (("ceiling", "live"), ("sale", "live"), ("sale", "orders"), ("sale", "shop")):
            paths = sorted(args.profile.glob(f"{run}-{name}-*.txt"))
            if paths:
                lines = [line for path in paths for line in path.read_text().splitlines()]
                print(f"\n{name} during the {run} run of the last sale (py-spy; files in {args.profile}):")
                print(profile.summary(lines))
    return 1 if any(failures(report) for report in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
