"""Optional sampling profile of live while wrk runs (py-spy), and a plain-text summary of it."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

_LINE_NO = re.compile(r":\d+\)")


def py_spy() -> str | None:
    """py-spy from this venv or PATH (`pip install py-spy`: a dev tool, not a dependency)."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def recording(pid: int, out: Path, *, rate: int = 100, native: bool = False) -> Iterator[None]:
    """Sample pid and its children (uvicorn workers) into out (collapsed stacks) until the block ends.

    `native`: with C frames (the garbage collector, syscalls) and without `--nonblocking`, which native frames need:
    py-spy then pauses the process for each sample, so keep the rate low and read shares, not CPU, from such a run."""
    tool = py_spy()
    if tool is None:
        raise RuntimeError("--profile needs py-spy: .venv/bin/pip install py-spy")
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = ["--native"] if native else ["--subprocesses", "--nonblocking"]
    argv = [tool, "record", "--pid", str(pid), *mode, "--rate", str(rate), "--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)  # py-spy writes the file on SIGINT
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def shares(lines: Iterable[str]) -> tuple[int, Counter[str], Counter[str]]:
    """(samples, inclusive samples per frame, self samples per frame) from py-spy's collapsed lines."""
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_LINE_NO.sub(")", f) for f in stack.split(";")[1:]]  # [0] is the process
        if frames:
            own[frames[-1]] += n
        # A function at several lines of one stack (recursion, loops) counts once.
        for frame in set(frames):
            inclusive[frame] += n
    return total, inclusive, own


def _ours(frame: str) -> bool:
    return "(libs/" in frame or "(services/" in frame


def summary(lines: Iterable[str], *, top: int = 15) -> str:
    """Where the samples went: our functions (inclusive), then the hottest leaf functions (self)."""
    total, inclusive, own = shares(lines)
    if not total:
        return "  (no samples)"
    out = [f"  {total} samples; our code, inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common() if _ours(f)][:top]
    out.append("  hottest functions, self:")
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    return "\n".join(out)
