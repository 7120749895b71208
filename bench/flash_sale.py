"""Flash-sale benchmark: B buyers race for S units over HTTP, measured against a trivial endpoint.

    python -m bench.flash_sale [--stock S] [--buyers B] [--concurrency C] [--live-workers W]
    python -m bench.flash_sale --live-url URL --shop-url URL --orders-url URL [--jwt-secret SECRET]

By default it starts its own shop, live and orders (`liveloop serve`, as production runs them)
on free ports against a fresh database and NATS namespace, and stops them by PID afterwards; with
the three URLs it targets a running stack instead (tokens signed with --jwt-secret, default
$LIVELOOP_JWT_SECRET or the dev secret). It sets up a merchant, a product with S units, a live
room and a running sale of S units (per-buyer limit 1), then with wrk (bench/flash_sale.lua):

  1. ceiling: B requests to POST /echo (same process, same middleware and auth), C connections;
  2. sale: B purchases, each a different buyer, same wrk settings;
  3. ceiling again, once orders has created every admitted order; the ceiling is the mean of 1
     and 3 (drift during the run shows, and cancels).

It prints requests/s and the ratio to the ceiling (overall, while stock lasts, after sold out),
admissions/s, p50/p99 of admitted and rejected requests, oversold, remaining, and lost (admitted
orders that orders still lacks after --settle-s). Exit 1 if anything was oversold or lost.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from bench import profile, scenario
from bench.report import Report, failures, render
from bench.results import CeilingResult, ceiling_result, sale_result
from bench.stack import REPO_ROOT, Target, cpu_seconds, own_stack
from bench.wrk import LoadSpec, WrkError, ensure_wrk
from bench.wrk import run as run_wrk
from devstack.embedded import StartupError
from libs.settings import DEV_JWT_SECRET


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.flash_sale", description=__doc__.splitlines()[0])
    parser.add_argument("--stock", "-S", type=int, default=1000, help="units on sale (default 1000)")
    parser.add_argument("--buyers", "-B", type=int, default=20000, help="buyers, one request each (default 20000)")
    parser.add_argument("--concurrency", "-C", type=int, default=256, help="open connections (default 256)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--live-workers", type=int, default=2, help="uvicorn workers for live (own stack)")
    parser.add_argument("--db-pool-max", type=int, default=20, help="LIVELOOP_DB_POOL_MAX per process (own stack)")
    parser.add_argument("--settle-s", type=float, default=60.0, help="how long orders may take to appear")
    parser.add_argument("--max-seconds", type=int, default=300, help="upper bound on each wrk run")
    parser.add_argument("--live-url")
    parser.add_argument("--shop-url")
    parser.add_argument("--orders-url")
    parser.add_argument("--jwt-secret", default=os.environ.get("LIVELOOP_JWT_SECRET", DEV_JWT_SECRET))
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install wrk when missing")
    parser.add_argument("--profile", type=Path, help="py-spy profiles of the services go here")
    args = parser.parse_args(argv)
    given = [args.live_url, args.shop_url, args.orders_url]
    if any(given) and not all(given):
        parser.error("--live-url, --shop-url and --orders-url go together")
    for name in ("stock", "buyers", "concurrency", "threads", "live_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
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
        for name, pid in target.pids.items():
            recordings.enter_context(profile.recording(pid, args.profile / f"{run}-{name}.txt"))
        yield


def _cpu_ms_per(before: dict[str, float], after: dict[str, float], names: tuple[str, ...], count: int) -> float | None:
    """CPU milliseconds the named processes spent between two snapshots, per `count` requests."""
    if not count or not all(n in before and n in after for n in names):
        return None
    return sum(after[n] - before[n] for n in names) * 1000 / count


def _ceiling(wrk: str, target: Target, tokens: list[str], spec: LoadSpec, run_id: str) -> CeilingResult:
    result = run_wrk(wrk, f"{target.urls['live']}/echo", tokens, spec, run_id=run_id)
    ceiling = ceiling_result(result.records, result.sent)
    if ceiling.ok < ceiling.completed:
        statuses = sorted({r.status for r in result.records})
        raise WrkError(f"POST /echo answered {statuses}, not only 2xx: is /echo deployed?")
    return ceiling


def bench(target: Target, args: argparse.Namespace, wrk: str, settings: dict[str, object]) -> Report:
    """Set up the sale; run ceiling, sale, wait for the orders, ceiling again; check stock and orders."""
    run = uuid.uuid4().hex[:8]
    sale = scenario.set_up_sale(target.urls, target.jwt_secret, run, stock=args.stock)
    _say(f"sale {sale.sale_id} running in room {sale.room_id} with {args.stock} units")
    tokens = scenario.buyer_tokens(target.jwt_secret, run, args.buyers)
    spec = LoadSpec(concurrency=args.concurrency, threads=args.threads, max_seconds=args.max_seconds)

    # A short warm-up: connections, route and auth caches; not measured.
    _ceiling(wrk, target, tokens[: min(len(tokens), 2000)], spec, f"w{run}")
    cpu = [cpu_seconds(target)]
    _say(f"ceiling 1: {args.buyers} x POST /echo")
    with _profiled(args, target, "ceiling"):
        before = _ceiling(wrk, target, tokens, spec, f"c{run}")
    cpu.append(cpu_seconds(target))
    _say(f"sale: {args.buyers} buyers x POST .../purchase")
    with _profiled(args, target, "sale"):
        sale_run = run_wrk(wrk, sale.purchase_url(target.urls["live"]), tokens, spec, run_id=f"s{run}")
    cpu.append(cpu_seconds(target))

    result = sale_result(sale_run.records, stock=args.stock, sent=sale_run.sent)
    remaining = scenario.remaining_units(target.urls, sale)
    token_of = {f"s{run}-{i}": token for i, token in enumerate(tokens)}
    admitted = [(r.order_id, token_of[r.request_id]) for r in sale_run.records if r.status == 201 and r.order_id]
    no_order_id = [r.request_id for r in sale_run.records if r.status == 201 and not r.order_id]
    _say(f"checking {len(admitted)} orders as their buyers (up to {args.settle_s:.0f} s)")
    started = time.monotonic()
    lost = scenario.lost_orders(target.urls, admitted, settle_s=args.settle_s) + no_order_id
    notes = [f"orders settled in {time.monotonic() - started:.1f} s after the sale run"]
    cpu.append(cpu_seconds(target))
    # Measured once the orders have settled, like the first: both ceilings see a quiet stack.
    _say(f"ceiling 2: {args.buyers} x POST /echo")
    after = _ceiling(wrk, target, tokens, spec, f"d{run}")
    cpu.append(cpu_seconds(target))
    if not sale_run.finished:
        notes.append(f"the sale run hit the {args.max_seconds} s bound before every response was in")
    cpu_rows = [
        ("live, ceiling before (per request)", _cpu_ms_per(cpu[0], cpu[1], ("live",), before.completed)),
        ("live, sale (per request)", _cpu_ms_per(cpu[1], cpu[2], ("live",), result.completed)),
        ("live, ceiling after (per request)", _cpu_ms_per(cpu[3], cpu[4], ("live",), after.completed)),
        ("shop+orders, sale to settled (per order)", _cpu_ms_per(cpu[1], cpu[3], ("shop", "orders"), result.admitted)),
        ("postgres, sale to settled (per order)", _cpu_ms_per(cpu[1], cpu[3], ("postgres",), result.admitted)),
        ("postgres, ceiling before (per request)", _cpu_ms_per(cpu[0], cpu[1], ("postgres",), before.completed)),
    ]
    return Report(
        settings=settings,
        ceilings=[("before", before), ("after", after)],
        sale=result,
        remaining=remaining,
        lost=lost,
        settle_s=args.settle_s,
        notes=notes,
        cpu_ms=[(label, value) for label, value in cpu_rows if value is not None],
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; 1 if anything was oversold or lost, 2 if it could not run."""
    args = _args(argv)
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
    try:
        if args.live_url:
            target = Target(
                urls={"live": args.live_url, "shop": args.shop_url, "orders": args.orders_url},
                jwt_secret=args.jwt_secret,
            )
            report = bench(target, args, wrk, settings)
        else:
            settings |= {"live_workers": args.live_workers, "db_pool_max": args.db_pool_max}
            overrides = {"LIVELOOP_DB_POOL_MAX": str(args.db_pool_max)}
            with own_stack(
                live_workers=args.live_workers, env_overrides=overrides, logs_root=REPO_ROOT / ".liveloop" / "bench"
            ) as target:
                report = bench(target, args, wrk, settings)
    except (scenario.SetupError, WrkError, StartupError) as exc:
        print(f"bench | could not run: {exc}", file=sys.stderr)
        return 2
    print()
    print(render(report), flush=True)
    if args.profile is not None:
        for run, name in (("ceiling", "live"), ("sale", "live"), ("sale", "orders"), ("sale", "shop")):
            path = args.profile / f"{run}-{name}.txt"
            if path.exists():
                with path.open() as lines:
                    print(f"\n{name} during the {run} run (py-spy; all files in {args.profile}):")
                    print(profile.summary(lines))
    return 1 if failures(report) else 0


if __name__ == "__main__":
    sys.exit(main())
