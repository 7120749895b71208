"""Where live's CPU goes while viewers join and while an event fans out: py-spy with native frames, put in buckets.

Native frames (`py-spy record --native`) because the biggest costs of the fan-out are not Python code: the cyclic
garbage collector (`gc_collect_main`), the socket write per viewer, `getpid()` inside `asyncio.get_running_loop`
(Python 3.11). Without them py-spy charges all of that to whichever Python line was running (the garbage collector
shows up as `await waiter` in `asyncio.wait`). Each sample goes in the first bucket that matches its stack; samples
of threads waiting (a thread pool's idle workers, the event loop in epoll) are left out, so the shares are of
live's busy CPU, which the benchmark measures separately and divides per join and per delivery.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from bench import profile

# A stack whose last frames are one of these is a thread waiting, not working.
_WAITING = ("PyThread_acquire_lock_timed", "_queue_SimpleQueue_get_impl", "epoll_wait", "epoll_pwait", "sem_wait")

# (label, any of these substrings in a frame of the stack); the first that matches takes the sample.
BUCKETS: Sequence[tuple[str, tuple[str, ...]]] = (
    ("garbage collector (gc_collect_main)", ("gc_collect_main",)),
    ("socket writes to Postgres (asyncpg queries)", ("asyncpg/", "(protocol.c")),  # with a write: see _match
    ("socket writes to viewers (uvloop UVStream write)", ("write (libc", "writev (libc", "sendmsg (libc")),
    ("getpid() in asyncio.get_running_loop (3.11)", ("getpid (libc",)),
    ("asyncpg pool release: Connection.reset", ("Connection.reset (asyncpg",)),
    ("join: room_state (REPEATABLE READ, shared by a burst)", ("room_state (services/live/rooms/use_cases/state.py",)),
    ("join: state read shared, subscribe, ready", ("FeedHub.read_state (services", "follow_room (services")),
    ("join: feed response (state write, attach, wait)", ("FeedStream._serve (services",)),
    ("hub fan-out: FeedClient.deliver, ASGI send chain", ("FeedHub._flush (services",)),
    ("hub: ordering, framing, listeners", ("FeedHub._dispatch (services",)),
    ("ASGI send chain (3 middleware wrappers, uvicorn)", ("RequestResponseCycle.send (uvicorn",)),
    ("new requests: uvicorn, middleware, routing", ("RequestResponseCycle.run_asgi", "HttpToolsProtocol")),
    ("asyncpg (other)", ("asyncpg/", "(protocol.c")),
    ("NATS and the bus", ("nats/", "libs/bus/")),
)
OTHER = "other (event loop, timers, the rest)"
_WRITES = BUCKETS[2][1]
_TO_POSTGRES = BUCKETS[1][0]


def _match(frames: Sequence[str]) -> str:
    """The sample's bucket: a write syscall under asyncpg is a query sent to Postgres, any other a viewer's bytes."""
    writes = any(k in f for f in frames[-3:] for k in _WRITES)
    for label, keys in BUCKETS:
        if label == _TO_POSTGRES and not writes:
            continue
        if any(k in f for f in frames for k in keys):
            return label
    return OTHER


def _frames(line: str) -> tuple[list[str], int] | None:
    stack, _, count = line.rstrip("\n").rpartition(" ")
    if not stack or not count.isdigit():
        return None
    return stack.split(";")[1:], int(count)  # [0] names the process (or thread)


def buckets(lines: Iterable[str]) -> tuple[int, list[tuple[str, int]]]:
    """(busy samples, [(bucket, samples)] in BUCKETS order, then OTHER) from py-spy's collapsed lines."""
    counts: Counter[str] = Counter()
    busy = 0
    for line in lines:
        parsed = _frames(line)
        if parsed is None:
            continue
        frames, n = parsed
        if any(marker in frame for frame in frames[-4:] for marker in _WAITING):
            continue
        busy += n
        counts[_match(frames)] += n
    order = [label for label, _ in BUCKETS] + [OTHER]
    return busy, [(label, counts[label]) for label in order if counts[label]]


def render(lines: Iterable[str], cpu_per_unit_us: float | None, unit: str) -> str:
    """The buckets as shares of live's busy samples, and in µs of live CPU per `unit` when that is known."""
    busy, shares = buckets(lines)
    if not busy:
        return "  (no busy samples)"
    head = f"  {busy} busy samples" + (f"; live CPU {cpu_per_unit_us:,.1f} us per {unit}" if cpu_per_unit_us else "")
    out = [head]
    for label, n in shares:
        share = n / busy
        per = f"{share * cpu_per_unit_us:10,.1f} us" if cpu_per_unit_us else ""
        out.append(f"  {100 * share:5.1f}%  {label:<56}{per}")
    return "\n".join(out)


def recording(pid: int, out: Path, *, rate: int = 50) -> contextlib.AbstractContextManager[None]:
    """Sample pid with native frames into out (collapsed stacks) until the block ends (`bench.profile.recording`).

    Native frames need py-spy to pause the process for each sample: with thousands of viewers that slows live
    noticeably, hence 50 samples/s; read the shares, and take CPU per join or delivery from a run without --profile."""
    return profile.recording(pid, out, rate=rate, native=True)
