"""A throwaway stack for the benchmark: its own database, NATS namespace and ports, stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from devstack import embedded
from devstack.embedded import Proc
from libs.settings import DEV_JWT_SECRET

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# The flash sale touches these three; aftersales and local_life only listen for paid orders.
SERVICES = ("shop", "live", "orders")


@dataclass(frozen=True)
class Target:
    """Where the stack under test answers, and the secret its tokens are signed with."""

    urls: dict[str, str]  # live (its first instance), shop, orders
    jwt_secret: str
    live_urls: tuple[str, ...] = ()  # every live instance; the load is spread evenly over them
    logs: Path | None = None
    pids: dict[str, list[int]] = field(default_factory=dict)  # per service, its processes (a stack we started)
    database: str | None = None  # its database, on a Postgres on this machine (admin_dsn)
    admin_dsn: str | None = None


def _say(message: str) -> None:
    print(f"bench | {message}", flush=True)


def _admin_dsn(work: Path, cleanup: contextlib.ExitStack) -> str:
    """A Postgres to create the bench database in: the given one, the local one, or an embedded one."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        return given
    if embedded.tcp_reachable(HOST, 5432):
        return f"postgresql://postgres@{HOST}:5432/postgres"
    pg = embedded.start_postgres(work / "pg", cleanup="delete")
    cleanup.callback(pg.stop)
    return pg.dsn


def _nats_url(work: Path, cleanup: contextlib.ExitStack) -> str:
    """A NATS with JetStream: the given one, the local one, or an embedded one on a free port."""
    given = os.environ.get("BENCH_NATS_URL")
    if given:
        return given
    if embedded.tcp_reachable(HOST, 4222):
        return f"nats://{HOST}:4222"
    proc = embedded.start_nats(work / "nats", embedded.free_port())
    cleanup.callback(proc.stop)
    return proc.url


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.contextmanager
def own_stack(
    *,
    live_instances: int,
    live_workers: int,
    env_overrides: Mapping[str, str],
    logs_root: Path,
    ready_timeout: float = 60.0,
) -> Iterator[Target]:
    """Start shop, live (several instances) and orders, and localstripe, on free ports against a fresh database
    and NATS namespace."""
    run = uuid.uuid4().hex[:10]
    work = Path(tempfile.mkdtemp(prefix=f"liveloop-bench-{run}-"))
    logs = logs_root / run
    procs: list[Proc] = []
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, work, ignore_errors=True)  # runs last: after Postgres and NATS stop
        admin_dsn = _admin_dsn(work, cleanup)
        nats_url = _nats_url(work, cleanup)
        database = f"liveloop_bench_{run}"
        namespace = f"bench{run}"
        asyncio.run(_create_database(admin_dsn, database))
        cleanup.callback(lambda: asyncio.run(_drop_database(admin_dsn, database)))
        cleanup.callback(lambda: asyncio.run(embedded.drop_streams(nats_url, f"{namespace}_")))
        stripe = embedded.start_localstripe(embedded.free_port(), log_dir=logs)
        cleanup.callback(stripe.stop)

        env = {
            **os.environ,
            "DATABASE_URL": embedded.dsn_for_database(admin_dsn, database),
            "NATS_URL": nats_url,
            "LIVELOOP_NS": namespace,
            "STRIPE_API_BASE": stripe.url,
            "STRIPE_API_KEY": "sk_test_liveloop",
            "LIVELOOP_JWT_SECRET": DEV_JWT_SECRET,
            "LIVELOOP_ENV": "dev",
            "PYTHONUNBUFFERED": "1",
            # No access line per request: under load the log, not the service, would be measured.
            "LIVELOOP_ACCESS_LOG": "off",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
            **env_overrides,
        }
        cleanup.callback(_stop_all, procs)
        for service in SERVICES:
            instances = live_instances if service == "live" else 1
            workers = live_workers if service == "live" else 1
            for n in range(1, instances + 1):
                name = service if n == 1 else f"{service}-{n}"
                port = embedded.free_port()
                argv = [*embedded.liveloop_argv(), "serve", service, "--host", HOST, "--port", str(port)]
                argv += ["--workers", str(workers)]
                url = f"http://{HOST}:{port}"
                procs.append(embedded.spawn(name, argv, logs / f"{name}.log", url=url, env=env, cwd=REPO_ROOT))
        embedded.wait_ready(procs, ready_timeout)
        _say(f"stack up: database {database}, NATS namespace {namespace}, logs in {logs}")
        for proc in procs:
            _say(f"  {proc.name:<8} {proc.url}  pid {proc.pid}")
        pids: dict[str, list[int]] = {}
        for proc in procs:
            pids.setdefault(proc.name.split("-")[0], []).append(proc.pid)
        yield Target(
            urls={p.name: p.url for p in procs if "-" not in p.name},
            jwt_secret=DEV_JWT_SECRET,
            live_urls=tuple(p.url for p in procs if p.name.split("-")[0] == "live"),
            logs=logs,
            pids=pids,
            database=database,
            admin_dsn=admin_dsn,
        )


@contextlib.contextmanager
def bare_servers(count: int, logs_root: Path, ready_timeout: float = 30.0) -> Iterator[tuple[str, ...]]:
    """`count` processes of the bare Litestar app (bench.bare) on free ports, as live's instances are served; their
    URLs. Stopped by PID at the end."""
    logs = logs_root / f"bare-{uuid.uuid4().hex[:8]}"
    procs: list[Proc] = []
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    }
    try:
        for n in range(1, count + 1):
            port = embedded.free_port()
            argv = [sys.executable, "-m", "bench.bare", "--host", HOST, "--port", str(port)]
            url = f"http://{HOST}:{port}"
            procs.append(embedded.spawn(f"bare-{n}", argv, logs / f"bare-{n}.log", url=url, env=env, cwd=REPO_ROOT))
        embedded.wait_ready(procs, ready_timeout)
        _say("bare Litestar: " + ", ".join(f"{p.url} (pid {p.pid})" for p in procs))
        yield tuple(p.url for p in procs)
    finally:
        _stop_all(procs)


def _stop_all(procs: list[Proc]) -> None:
    """SIGTERM what we started, by PID, in reverse order."""
    for proc in reversed(procs):
        proc.stop(15.0)
    if procs:
        _say("stack stopped")
