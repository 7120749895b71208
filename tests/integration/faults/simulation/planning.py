"""The plan: every action, target draw and fault of a run, drawn from the seed alone before anything runs."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from libs import faults

# What each step may launch, and how often (weights).
ACTIONS: dict[str, int] = {
    "checkout": 5,
    "pay": 5,
    "pay_declined": 1,
    "cancel": 1,
    "webhook_again": 2,
    "ship": 2,
    "open_case": 2,
    "approve": 1,
    "redeem": 2,
    "undo": 1,
    "refund_vouchers": 1,
    "time_passes": 1,
}
MAX_ACTIONS_PER_STEP = 4
FAULT_CHANCE = 0.6
MAX_FAULT_COUNT = 3


@dataclass(frozen=True)
class Move:
    """One planned action: its kind, the draws that pick its target (`a`, `b`) and a small count (`n`), and where it
    stands in the plan (step, place in the step)."""

    kind: str
    a: float
    b: float
    n: int
    at: tuple[int, int]


@dataclass(frozen=True)
class Step:
    moves: tuple[Move, ...]
    fault: tuple[str, int] | None


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    # Armed while the end settles: when the payment windows, holds, case deadlines and refunds all come due at once.
    final_fault: tuple[str, int]


def plan(seed: int, steps: int) -> Plan:
    """The whole run's choices, from the seed alone: the same seed, the same plan."""
    rng = random.Random(seed)
    kinds, weights = list(ACTIONS), list(ACTIONS.values())
    points = sorted(faults.POINTS)
    out = []
    for number in range(steps):
        count = rng.randint(1, MAX_ACTIONS_PER_STEP)
        moves = tuple(
            Move(rng.choices(kinds, weights)[0], rng.random(), rng.random(), rng.randint(1, 3), (number, i))
            for i in range(count)
        )
        roll, point, after = rng.random(), rng.choice(points), rng.randint(1, MAX_FAULT_COUNT)
        out.append(Step(moves, (point, after) if roll < FAULT_CHANCE else None))
    return Plan(tuple(out), (rng.choice(points), rng.randint(1, MAX_FAULT_COUNT)))


def pick(items: list[Any], x: float) -> Any:
    """The item a draw `x` in [0, 1) lands on (None from no items): how a move picks its target."""
    return items[min(int(x * len(items)), len(items) - 1)] if items else None
