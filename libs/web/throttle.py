"""Per-caller token buckets: a burst of one caller answers 429 with Retry-After; others are untouched.

In-process on purpose: it sheds load (a script hammering one endpoint), it never decides who gets scarce
stock (the database does). With N instances a caller gets at most N times the rate, which is fine for
shedding. Keyed by the bearer token's `sub`, never by `X-Forwarded-For`, which any client can write.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from libs.runtime import Runtime
from libs.settings import Settings
from libs.web.guards import principal_of
from libs.web.problems import Problem

# Callers remembered at most; past it the least recently seen bucket is dropped (it starts full again).
MAX_CALLERS = 100_000


class TokenBuckets:
    """`burst` requests at once per caller, refilled at `rate_per_s`; memory bounded by idle eviction."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_callers: int = MAX_CALLERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_callers = max_callers
        self.clock = clock
        # caller -> (tokens, when they were counted); ordered by last use, oldest first.
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        # A bucket idle this long is full again: forgetting it changes nothing.
        self._refill_s = self.burst / self.rate

    def take(self, caller: str) -> float:
        """Take one token for `caller`: 0.0 if allowed, else the seconds until one is there."""
        now = self.clock()
        self._evict_idle(now)
        tokens, then = self._buckets.pop(caller, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[caller] = (tokens - 1.0, now)
            wait = 0.0
        else:
            self._buckets[caller] = (tokens, now)
            wait = (1.0 - tokens) / self.rate
        if len(self._buckets) > self.max_callers:
            self._buckets.popitem(last=False)
        return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _evict_idle(self, now: float) -> None:
        while self._buckets:
            _, (_, then) = next(iter(self._buckets.items()))
            if now - then < self._refill_s:
                return
            self._buckets.popitem(last=False)


def retry_after(wait_s: float) -> str:
    """Retry-After in whole seconds, at least 1 (RFC 9110: delay-seconds is a non-negative integer)."""
    return str(max(1, math.ceil(wait_s)))


def too_many(wait_s: float) -> Problem:
    return Problem(
        429,
        "too-many-requests",
        "too many requests from this caller; slow down",
        headers={"Retry-After": retry_after(wait_s)},
        retry_after_s=max(1, math.ceil(wait_s)),
    )


@dataclass(frozen=True)
class Limits:
    """A throttle of some calls: its name (one set of buckets per name and runtime) and where its rate and burst
    come from in the service's settings (read when the first call arrives)."""

    name: str
    of: Callable[[Settings], tuple[float, int]]


def take(runtime: Runtime, limits: Limits, caller: str) -> float:
    """One token from `caller`'s bucket of `limits` on this runtime: 0.0, or the seconds to wait (see TokenBuckets)."""
    buckets = runtime.extras.get(f"throttle:{limits.name}")
    if buckets is None:
        rate_per_s, burst = limits.of(runtime.settings)
        buckets = runtime.extras[f"throttle:{limits.name}"] = TokenBuckets(rate_per_s, burst)
    return buckets.take(caller)


def throttled(limits: Limits):
    """Guard: one token per call from the caller's bucket of `limits`.

    Place it after the role guard: it needs the caller's token. Buckets live on the service's runtime.
    Async because Litestar runs sync guards in a thread pool: a hop per request for a few arithmetic steps.
    """

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        wait = take(connection.app.state.runtime, limits, principal_of(connection).sub)
        if wait > 0:
            raise too_many(wait)

    # Read by libs.web.openapi: the route may answer 429 with Retry-After.
    guard.limits = limits  # type: ignore[attr-defined]
    return guard


__all__ = ["Limits", "TokenBuckets", "retry_after", "take", "throttled", "too_many"]
