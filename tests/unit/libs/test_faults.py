"""Crash points: armed only on purpose, they fire on exactly the counted pass, and a real process dies by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from libs import faults

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def nothing_armed() -> Iterator[None]:
    faults.disarm()
    yield
    faults.disarm()


def test_nothing_is_armed_unless_a_test_arms_it() -> None:
    assert faults.ARMED is False
    faults.hit("relay.published")  # passes, no effect


def test_an_armed_point_fails_on_the_counted_pass_only() -> None:
    faults.arm("job.applied", after=3)
    faults.hit("job.applied")
    faults.hit("relay.published")  # another point does not count
    faults.hit("job.applied")
    assert faults.pending("job.applied")
    with pytest.raises(faults.InjectedFault, match=r"job\.applied"):
        faults.hit("job.applied")
    assert not faults.pending("job.applied")
    faults.hit("job.applied")  # spent: passes again


def test_an_unknown_point_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown crash point"):
        faults.arm("relay.publishd")


def _run(env_value: str, code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, faults.ENV: env_value, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_armed_by_the_environment_the_process_kills_itself_at_the_point() -> None:
    done = _run(
        "consumer.applied:2",
        "from libs import faults\nfaults.hit('consumer.applied')\nprint('first pass', flush=True)\n"
        "faults.hit('consumer.applied')\nprint('never')",
    )
    assert done.returncode == -signal.SIGKILL
    assert done.stdout == "first pass\n"
    assert "crash point consumer.applied" in done.stderr


def test_a_misspelt_environment_stops_the_process_at_import() -> None:
    done = _run("stripe.confirm", "import libs.faults")
    assert done.returncode == 1
    assert "unknown crash point 'stripe.confirm'" in done.stderr
