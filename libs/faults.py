"""Named crash points: places where a process may die, switched on only by a test.

A crash point is a line `if faults.ARMED: faults.hit("relay.published")` at a place where dying is interesting
(docs/RELIABILITY.md lists them). While nothing is armed, which is always outside the fault tests, it costs one
check of a module constant and does nothing else.

Armed two ways:
- **In a real process**, by the environment at start-up: `LIVELOOP_CRASH_AT=relay.published:3` makes the process
  kill itself with SIGKILL the third time it passes that point (`:1` when no count is given). Several points are
  separated by commas; the first one reached its count kills the process. The fault harness starts the process
  again without the variable and checks that nothing was lost or done twice (tests/integration/faults).
- **In the test's own process**, by `arm(name, after=n)`: the n-th pass raises `InjectedFault` instead, which fails
  the unit of work around it (its transaction rolls back, its message is not acked) as a crash of that task would.
  The seeded simulation injects faults this way. `disarm()` ends it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading

log = logging.getLogger(__name__)

ENV = "LIVELOOP_CRASH_AT"

# Every crash point in the code, and what state a death there leaves (the fault suite runs each; a name not listed
# here is refused, so a typo in a test cannot arm nothing).
POINTS: dict[str, str] = {
    "stripe.intent_created": "Stripe made a PaymentIntent; orders has not recorded it",
    "stripe.confirmed": "Stripe confirmed (charged) a PaymentIntent; orders has not heard the answer",
    "stripe.refunded": "Stripe made a refund; orders has not recorded it",
    "db.committed": "a transaction that wrote outbox events committed; the relay has not published them",
    "relay.published": "the relay published a batch to JetStream; the rows are not marked published",
    "consumer.applied": "a consumer's effect and inbox row committed; the message is not acked",
    "job.applied": "a due job's effect ran in its transaction; the job row is not deleted, nothing committed",
}


class InjectedFault(Exception):
    """Raised at an armed crash point inside a test's own process."""


def _parse(spec: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, count = part.partition(":")
        if name not in POINTS:
            raise ValueError(f"{ENV}: unknown crash point {name!r} (known: {', '.join(sorted(POINTS))})")
        armed[name] = int(count) if count else 1
        if armed[name] < 1:
            raise ValueError(f"{ENV}: {part!r} must count from 1")
    return armed


_lock = threading.Lock()
_remaining: dict[str, int] = _parse(os.environ.get(ENV, ""))
_kill = bool(_remaining)  # armed by the environment: the process dies; armed by `arm`: the task fails
ARMED: bool = bool(_remaining)


def hit(name: str) -> None:
    """Pass the crash point `name`: die (or raise) if it is armed and this is the pass it counts to."""
    with _lock:
        left = _remaining.get(name)
        if left is None:
            return
        if left > 1:
            _remaining[name] = left - 1
            return
        del _remaining[name]
    if _kill:
        # What kill -9 from outside would do, at exactly this line: no cleanup, no flush beyond this one line.
        sys.stderr.write(f"liveloop: crash point {name}: SIGKILL pid {os.getpid()}\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(name)


# Connections whose open transaction wrote outbox events (only tracked while armed): `db.committed` fires after the
# commit of such a transaction.
_with_events: set[int] = set()


def note_events(conn: object) -> None:
    """The transaction on `conn` wrote outbox events (called by `libs.bus.add_events` while armed)."""
    with _lock:
        _with_events.add(id(conn))


def forget_events(conn: object) -> bool:
    """Whether the transaction on `conn` wrote outbox events; forgets it either way."""
    with _lock:
        if id(conn) in _with_events:
            _with_events.discard(id(conn))
            return True
        return False


def arm(name: str, *, after: int = 1) -> None:
    """In this process, make the `after`-th pass of `name` raise InjectedFault (tests only)."""
    global ARMED, _kill
    if name not in POINTS:
        raise ValueError(f"unknown crash point {name!r}")
    with _lock:
        _remaining[name] = after
        _kill = False
        ARMED = True


def pending(name: str) -> bool:
    """Whether `name` is still armed (not reached its count yet)."""
    with _lock:
        return name in _remaining


def disarm() -> None:
    """Forget every armed point; crash points cost one check again."""
    global ARMED
    with _lock:
        _remaining.clear()
        _with_events.clear()
        ARMED = False


__all__ = [
    "ARMED",
    "ENV",
    "POINTS",
    "InjectedFault",
    "arm",
    "disarm",
    "forget_events",
    "hit",
    "note_events",
    "pending",
]
