"""The seeded simulation (the `simulation` package): random interleavings of buyers, the merchant, the clerk,
Stripe's webhooks and the clock, with a crash point armed in most steps; every promise the model checks holds, for
every seed.

`make test` runs SEEDS seeds (3, fresh random ones each run, `LIVELOOP_SIM_SEEDS=<n>` for more) of STEPS steps (40)
each; `LIVELOOP_SIM_SEED=<seed> LIVELOOP_SIM_STEPS=<steps>` runs that one seed alone, to replay a failure (its message
says both), and `LIVELOOP_SIM_TRACE=1` prints every step's actions and answers. `make bench` runs 100 seeds
(`LIVELOOP_SIM_SEEDS` again to change it) of BENCH_STEPS steps (60) and reports every seed that failed. All seeds of a
module run on one stack, one after another, each in a world of its own.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter

import pytest

from tests.harness import SERVICES as ALL_SERVICES
from tests.harness import Stack
from tests.integration.faults import simulation

SERVICES = ALL_SERVICES
SETTINGS = simulation.SETTINGS

_REPLAY = os.environ.get("LIVELOOP_SIM_SEED")
_COUNT = os.environ.get("LIVELOOP_SIM_SEEDS")
_BASE = random.SystemRandom().randrange(1, 10**9)
SEEDS = [int(_REPLAY)] if _REPLAY else [_BASE + n for n in range(int(_COUNT or 3))]
STEPS = int(os.environ.get("LIVELOOP_SIM_STEPS", "40"))
BENCH_SEEDS = [int(_REPLAY)] if _REPLAY else [_BASE + n for n in range(int(_COUNT or 100))]
BENCH_STEPS = int(os.environ.get("LIVELOOP_SIM_STEPS", "60"))


def test_a_seed_draws_the_same_plan_every_time_and_another_seed_another() -> None:
    """The replay promise, as far as it is the seed's: the plan (every action, target draw and fault) is its own."""
    assert simulation.plan(1234, 30) == simulation.plan(1234, 30)
    assert simulation.plan(1234, 30) != simulation.plan(1235, 30)
    long = simulation.plan(7, 400)
    kinds = Counter(move.kind for step in long.steps for move in step.moves)
    assert set(kinds) == set(simulation.ACTIONS), kinds
    points = {step.fault[0] for step in long.steps if step.fault}
    assert points == set(simulation.faults.POINTS), points


@pytest.mark.timeout(300)
@pytest.mark.parametrize("run", range(len(SEEDS)), ids=[f"seed{n}" for n in range(len(SEEDS))])
async def test_every_promise_holds_under_a_seeded_interleaving_with_faults(stack: Stack, run: int) -> None:
    report = await simulation.run_seed(stack, SEEDS[run], STEPS)
    print(report.summary())
    print("  answers:", ", ".join(f"{k} x{n}" for k, n in sorted(report.outcomes.items())))
    if os.environ.get("LIVELOOP_SIM_TRACE"):
        print("\n".join(report.trace))
    assert report.purchases, f"seed {report.seed}: the run placed no checkout, so it tested little"


@pytest.mark.bench
@pytest.mark.timeout(len(BENCH_SEEDS) * 240 + 60)
async def test_many_seeds_keep_every_promise(stack: Stack) -> None:
    failed: list[str] = []
    fired: Counter = Counter()
    answers: Counter = Counter()
    took: list[float] = []
    started = time.monotonic()
    for seed in BENCH_SEEDS:
        try:
            report = await simulation.run_seed(stack, seed, BENCH_STEPS)
        except simulation.SimulationFailed as exc:
            failed.append(f"{str(exc).splitlines()[0]} (LIVELOOP_SIM_SEED={seed} LIVELOOP_SIM_STEPS={BENCH_STEPS})")
            continue
        fired.update(report.faults_fired)
        answers.update(report.outcomes)
        took.append(report.seconds)
        print(report.summary())
    print(
        f"{len(BENCH_SEEDS)} seeds x {BENCH_STEPS} steps in {time.monotonic() - started:.0f}s "
        f"(per seed: median {sorted(took)[len(took) // 2] if took else 0:.1f}s); faults fired: {dict(fired)}"
    )
    print("answers:", ", ".join(f"{k} x{n}" for k, n in sorted(answers.items())))
    assert not failed, f"{len(failed)} of {len(BENCH_SEEDS)} seeds failed:\n" + "\n".join(failed)
