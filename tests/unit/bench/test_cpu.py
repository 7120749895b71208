"""Splitting the machine's cores between our processes over a phase of the benchmark."""

from __future__ import annotations

import pytest

from bench.cpu import MACHINE, Sample, cores_between, others

S = 1_000_000_000


def test_cores_are_cpu_seconds_over_wall_seconds_between_the_samples_inside_the_window() -> None:
    samples = [
        Sample(0 * S, {"live": 0.0, MACHINE: 0.0}),
        Sample(1 * S, {"live": 0.5, MACHINE: 1.0}),
        Sample(3 * S, {"live": 2.5, MACHINE: 4.0}),
        Sample(4 * S, {"live": 4.0, MACHINE: 6.0}),
    ]
    assert cores_between(samples, 1 * S, 3 * S) == pytest.approx({"live": 1.0, MACHINE: 1.5})
    assert cores_between(samples, 0, 10 * S) == pytest.approx({"live": 1.0, MACHINE: 1.5})


def test_a_window_with_fewer_than_two_samples_says_nothing() -> None:
    samples = [Sample(0, {"live": 0.0}), Sample(10 * S, {"live": 1.0})]
    assert cores_between(samples, 1 * S, 9 * S) == {}
    assert cores_between([], 0, S) == {}


def test_a_process_missing_from_a_sample_is_left_out() -> None:
    samples = [Sample(0, {"live": 0.0}), Sample(S, {"live": 1.0, "postgres": 0.2})]
    assert cores_between(samples, 0, S) == {"live": 1.0}


def test_others_is_what_the_machine_spent_beyond_our_processes() -> None:
    assert others({"live": 0.8, "orders": 0.3, MACHINE: 1.9}) == pytest.approx(0.8)
    assert others({"live": 1.0, MACHINE: 0.9}) == 0.0  # sampling skew never makes it negative
    assert others({"live": 1.0}) is None
