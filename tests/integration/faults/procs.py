"""The fault harness: every service as a real `liveloop serve` process, killed at crash points and started again.

`Procs` starts the five services as subprocesses on the module's database and NATS namespace (the `infra` fixture),
each on a port of its own that it keeps across restarts, with orders' Stripe webhook registered at localstripe. A
process started with `LIVELOOP_CRASH_AT=<point>:<n>` (libs/faults.py) kills itself with SIGKILL the n-th time it
passes that point; `Procs` sees it die, records the kill, and starts it again on the same port (armed again if the
caller gave it more counts, otherwise not), then waits until it answers `/ready`. Only processes started here are
ever signalled, by their PID.

Its surface is the in-process `Stack`'s where the flows need it (`infra`, `client`, `url`), so the HTTP helpers
written for `Stack` (tests/e2e/flows.py, tests/integration/*/support.py) drive real processes unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec

from devstack.embedded import free_port
from libs import faults
from tests.harness import SERVICES, Infra, register_webhook

ROOT = Path(__file__).resolve().parents[3]
# What uvicorn logs when its port is taken.
_BIND_FAILED = "address already in use"


@dataclass
class Kill:
    """A process that died at a crash point, and how long it took to answer again."""

    service: str
    point: str
    pid: int
    at: float  # time.monotonic() when its death was seen
    ready_after_s: float | None = None  # from its death to /ready of the new process


@dataclass
class Served:
    service: str
    port: int
    log: Path
    process: asyncio.subprocess.Process | None = None
    # Counts still to arm this service with, one per start: its next start crashes at the next one.
    arming: deque[str] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def service_env(infra: Infra, service: str, overrides: dict[str, object]) -> dict[str, str]:
    """The environment a real process of `service` reads its settings from: this module's servers and namespace."""
    known = {f.name for f in msgspec.structs.fields(type(infra.settings(service)))}
    settings = infra.settings(service, **{k: v for k, v in overrides.items() if k in known})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVELOOP_", "STRIPE_", "OTEL_"))}
    for spec in msgspec.structs.fields(type(settings)):
        value = getattr(settings, spec.name)
        if value is None or spec.name == "service":
            continue
        env[spec.encode_name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    env["PYTHONPATH"] = str(ROOT)
    env["LIVELOOP_ACCESS_LOG"] = "off"
    env["LOG_LEVEL"] = "WARNING"
    return env


class Procs:
    """Real service processes for one test module; see the module docstring."""

    def __init__(self, infra: Infra, workdir: Path, **overrides: object) -> None:
        self.infra = infra
        self.workdir = workdir
        self.overrides = overrides
        self.served: dict[str, Served] = {}
        self.kills: list[Kill] = []
        self._watchers: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        # Called with (service, method, path, status or None for a refused connection, seconds) for every attempt a
        # client of `client()` makes: the soak's per-endpoint latencies (test_soak.py).
        self.observe: Callable[[str, str, str, int | None, float], None] | None = None

    # --- what the flows use ------------------------------------------------------------------------------------

    def url(self, service: str) -> str:
        return self.served[service].url

    def client(self, service: str, token: str | None = None) -> httpx.AsyncClient:
        """A client of the service that waits out a restart: a refused connection is tried again (see `Retrying`)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            base_url=self.url(service), headers=headers, timeout=20, transport=Retrying(self, service)
        )

    # --- processes ---------------------------------------------------------------------------------------------

    async def start(self, *services: str) -> None:
        for service in services or SERVICES:
            self.served[service] = Served(service, free_port(), self.workdir / f"{service}.log")
        await asyncio.gather(*(self._spawn(self.served[s], initial=True) for s in self.served))
        if "orders" in self.served:
            orders = self.served["orders"]
            await register_webhook(self.infra, f"{orders.url}/stripe/webhook", webhook_id=f"orders-{orders.port}")

    async def arm(self, service: str, *specs: str) -> None:
        """Restart `service` (gracefully) armed with `specs[0]` (`point:n`); after each crash it comes back armed with
        the next spec, and unarmed once they are spent."""
        served = self.served[service]
        served.arming = deque(specs)
        await self._restart(served)

    async def disarm_all(self) -> None:
        """Every service still armed is restarted unarmed (gracefully)."""
        armed = [s for s in self.served.values() if s.arming or self._armed_now(s)]
        for served in armed:
            served.arming.clear()
        await asyncio.gather(*(self._restart(s) for s in armed))

    def _armed_now(self, served: Served) -> bool:
        return getattr(served, "_armed_spec", None) is not None

    async def _restart(self, served: Served) -> None:
        watcher = self._watchers.pop(served.service, None)
        if watcher is not None:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
        process = served.process
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except TimeoutError:
                process.kill()
                await process.wait()
        await self._spawn(served)

    async def _spawn(self, served: Served, *, initial: bool = False) -> None:
        for _ in range(5):
            await self._start_process(served)
            if not await self._port_taken(served):
                self._watchers[served.service] = asyncio.create_task(self._watch(served, served._armed_spec))  # type: ignore[attr-defined]
                return
            # Someone took the port between free_port() and the bind (another test worker, say): on the first start
            # the service moves to a new one; a restart keeps its port (its clients know it) and tries again.
            if initial:
                served.port = free_port()
            else:
                await asyncio.sleep(0.5)
        raise RuntimeError(f"{served.service}: port {served.port} stayed taken:\n{self.tail(served.service)}")

    async def _port_taken(self, served: Served) -> bool:
        assert served.process is not None
        if _BIND_FAILED not in self._segment(served):
            return False
        await served.process.wait()
        return True

    def _segment(self, served: Served) -> str:
        """The log of the process's latest start."""
        text = served.log.read_text(errors="replace") if served.log.exists() else ""
        return text.rsplit("--- start", 1)[-1]

    async def _start_process(self, served: Served) -> None:
        served.ready.clear()
        env = service_env(self.infra, served.service, self.overrides)
        spec = served.arming.popleft() if served.arming else None
        served._armed_spec = spec  # type: ignore[attr-defined]
        if spec:
            env[faults.ENV] = spec
        with served.log.open("ab") as log:
            log.write(f"--- start{' armed ' + spec if spec else ''}\n".encode())
            log.flush()
            served.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "libs.cli",
                "serve",
                served.service,
                "--port",
                str(served.port),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        await self._wait_ready(served)

    async def _wait_ready(self, served: Served, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=served.url, timeout=2) as client:
            while True:
                assert served.process is not None
                if served.process.returncode is not None or _BIND_FAILED in self._segment(served):
                    # Died while starting: e.g. a crash point passed during start-up (the watcher decides), or its
                    # port was taken (`_spawn` decides).
                    return
                with contextlib.suppress(httpx.HTTPError):
                    # Ready, and it is this process that answers: it says it bound the port.
                    if (await client.get("/ready")).status_code == 200 and (
                        f"Uvicorn running on {served.url}" in self._segment(served)
                    ):
                        served.ready.set()
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{served.service} not ready in {timeout}s:\n{self.tail(served.service)}")
                await asyncio.sleep(0.1)

    async def _watch(self, served: Served, spec: str | None) -> None:
        """Wait for the process to end; a death at a crash point is recorded and the service started again."""
        process = served.process
        assert process is not None
        code = await process.wait()
        served.ready.clear()
        if self._stopping:
            return
        if code != -signal.SIGKILL or not spec:
            raise AssertionError(f"{served.service} (pid {process.pid}) exited {code}:\n{self.tail(served.service)}")
        kill = Kill(served.service, spec.partition(":")[0], process.pid, time.monotonic())
        self.kills.append(kill)
        await self._spawn(served)
        kill.ready_after_s = time.monotonic() - kill.at

    async def wait_all_ready(self, timeout: float = 60.0) -> None:
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in self.served.values())), timeout)

    def tail(self, service: str, size: int = 4000) -> str:
        path = self.served[service].log
        return path.read_text(errors="replace")[-size:] if path.exists() else ""

    async def stop(self) -> None:
        self._stopping = True
        for watcher in self._watchers.values():
            watcher.cancel()
        await asyncio.gather(*self._watchers.values(), return_exceptions=True)
        for served in self.served.values():
            if served.process is not None and served.process.returncode is None:
                served.process.terminate()
        for served in self.served.values():
            if served.process is not None:
                try:
                    await asyncio.wait_for(served.process.wait(), 15)
                except TimeoutError:
                    served.process.kill()
                    await served.process.wait()
        if "orders" in self.served:
            with contextlib.suppress(httpx.HTTPError):
                async with httpx.AsyncClient(timeout=5) as api:
                    await api.delete(f"{self.infra.stripe_base}/_config/webhooks/orders-{self.served['orders'].port}")


class Retrying(httpx.AsyncBaseTransport):
    """What a real app does when a backend restarts: a connection refused (or cut before any answer) is tried again,
    for up to 60 s, once the service answers `/ready` again. Safe for every request the flows send: each write carries
    an Idempotency-Key or is idempotent by its nature. A 5xx is returned to the caller, who decides."""

    def __init__(self, procs: Procs, service: str, budget_s: float = 60.0) -> None:
        self.procs = procs
        self.service = service
        self.budget_s = budget_s
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.budget_s
        body = await request.aread()
        while True:
            began = time.perf_counter()
            try:
                again = httpx.Request(request.method, request.url, headers=request.headers, content=body)
                response = await self.inner.handle_async_request(again)
                self._observe(self.service, request.method, request.url.path, response.status_code, began)
                return response
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                self._observe(self.service, request.method, request.url.path, None, began)
                if time.monotonic() > deadline:
                    raise
                served = self.procs.served[self.service]
                remaining = max(deadline - time.monotonic(), 0.1)
                # Until it answers /ready again (or the budget is spent: the next attempt then raises). Not "raise
                # unless ready now": a restarted process armed again may die again before this task looks.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(served.ready.wait(), remaining)
                await asyncio.sleep(0.05)

    def _observe(self, service: str, method: str, path: str, status: int | None, began: float) -> None:
        if self.procs.observe is not None:
            self.procs.observe(service, method, path, status, time.perf_counter() - began)

    async def aclose(self) -> None:
        await self.inner.aclose()
