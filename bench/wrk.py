"""Drive wrk with bench/flash_sale.lua: a fixed number of requests, one per buyer, then stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.results import Record, parse_records

SCRIPT = Path(__file__).with_name("flash_sale.lua")
INSTALL_HINT = "wrk is not installed: `sudo apt-get install -y wrk` (Debian/Ubuntu) or `brew install wrk` (macOS)"


class WrkError(RuntimeError):
    """wrk is missing or did not run."""


def ensure_wrk(*, install: bool) -> str:
    """Path of wrk; installs Debian's package first when allowed and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if install and apt and os.geteuid() == 0:
        print("wrk not found; installing Debian's package (apt-get install -y wrk)", flush=True)
        subprocess.run([apt, "install", "-y", "-q", "wrk"], check=False)  # noqa: S603
        found = shutil.which("wrk")
        if found:
            return found
    raise WrkError(INSTALL_HINT)


@dataclass(frozen=True)
class LoadSpec:
    """How wrk drives the service: the same for the ceiling and the sale."""

    concurrency: int
    threads: int = 2
    max_seconds: int = 300
    timeout_s: int = 30

    def threads_for(self, requests: int) -> int:
        """Threads actually used: never more than connections or requests (each needs a share)."""
        return max(1, min(self.threads, self.concurrency, requests))


@dataclass(frozen=True)
class Run:
    """One wrk run's per-request records, how many it was asked to send, and its own summary."""

    url: str
    sent: int
    records: list[Record]
    finished: bool  # every thread saw all its responses before the time bound
    wrk_output: str


def run(
    wrk: str,
    url: str,
    tokens: Sequence[str],
    spec: LoadSpec,
    *,
    run_id: str,
    work_dir: Path | None = None,
    on_start: Callable[[int], None] | None = None,
    addresses: Sequence[str] = (),
) -> Run:
    """POST to url once per token with wrk, stopping as soon as every response is in.

    `addresses` ("host:port" of each instance serving url's path) spread the threads evenly over them.
    """
    threads = spec.threads_for(len(tokens))
    if addresses and threads % len(addresses):
        raise WrkError(f"{threads} wrk threads cannot be split evenly over {len(addresses)} instances")
    out_dir = Path(tempfile.mkdtemp(prefix=f"wrk-{run_id}-", dir=work_dir))
    tokens_path = out_dir / "tokens"
    tokens_path.write_text("".join(f"{t}\n" for t in tokens))
    tokens_path.chmod(0o600)
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{max(spec.concurrency, threads)}",
        f"-d{spec.max_seconds}s",
        f"--timeout={spec.timeout_s}s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(tokens_path),
        str(out_dir),
        run_id,
        str(threads),
    ]
    done_files = [out_dir / f"thread-{k}.done" for k in range(threads)]
    log_path = out_dir / "wrk.out"
    with log_path.open("wb") as log:
        env = {**os.environ, "BENCH_WRK_ADDRS": ",".join(addresses)}
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)  # noqa: S603
        if on_start is not None:
            on_start(proc.pid)
        finished = False
        try:
            while proc.poll() is None:
                if all(path.exists() for path in done_files):
                    finished = True
                    # wrk's main thread sleeps for the whole -d; SIGINT ends the sleep and it reports.
                    proc.send_signal(signal.SIGINT)
                    break
                time.sleep(0.05)
            proc.wait(30)
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)
    tokens_path.unlink(missing_ok=True)  # bearer tokens do not stay on disk
    records: list[Record] = []
    for k in range(threads):
        path = out_dir / f"thread-{k}.tsv"
        if path.exists():
            with path.open() as lines:
                records += parse_records(lines)
    output = log_path.read_text(errors="replace")
    if not records:
        raise WrkError(f"wrk recorded no responses (exit {proc.returncode}); its output ({out_dir}):\n{output}")
    shutil.rmtree(out_dir, ignore_errors=True)  # the records are in memory now
    return Run(url=url, sent=len(tokens), records=records, finished=finished, wrk_output=output)
