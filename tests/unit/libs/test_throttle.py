"""The per-caller token bucket in front of purchases and claims."""

from __future__ import annotations

import pytest

from libs.web.throttle import TokenBuckets, retry_after, too_many


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_caller_gets_its_burst_at_once_then_waits_for_the_refill() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate_per_s=2.0, burst=5, clock=clock)
    assert [buckets.take("alice") for _ in range(5)] == [0.0] * 5
    wait = buckets.take("alice")
    assert wait == pytest.approx(0.5)
    clock.now += 0.5
    assert buckets.take("alice") == 0.0
    assert buckets.take("alice") > 0


def test_one_callers_burst_does_not_touch_anyone_elses_bucket() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate_per_s=1.0, burst=2, clock=clock)
    for _ in range(10):
        buckets.take("greedy")
    assert buckets.take("greedy") > 0
    assert buckets.take("patient") == 0.0
    assert buckets.take("patient") == 0.0


def test_refused_calls_do_not_dig_the_caller_deeper_into_debt() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate_per_s=1.0, burst=1, clock=clock)
    assert buckets.take("bob") == 0.0
    for _ in range(100):
        assert buckets.take("bob") > 0
    clock.now += 1.0
    assert buckets.take("bob") == 0.0


def test_idle_buckets_are_forgotten_and_memory_stays_bounded() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(rate_per_s=10.0, burst=5, max_callers=100, clock=clock)
    for i in range(1000):
        buckets.take(f"caller-{i}")
    assert len(buckets) <= 100
    # A bucket idle long enough to be full again is dropped: nothing about the caller is lost.
    clock.now += 0.5
    buckets.take("newcomer")
    assert len(buckets) == 1


def test_a_refusal_says_when_to_come_back_in_whole_seconds() -> None:
    assert retry_after(0.01) == "1"
    assert retry_after(1.2) == "2"
    problem = too_many(0.3)
    assert problem.status_code == 429
    assert problem.headers == {"Retry-After": "1"}


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBuckets(rate_per_s=0, burst=5)
    with pytest.raises(ValueError, match="rate_per_s"):
        TokenBuckets(rate_per_s=1, burst=0)
