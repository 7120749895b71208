"""What the checker answers (`Verdict`) and the report every check writes its violations and counts into."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

INVARIANTS = ("stock", "charges", "refunds", "vouchers", "events", "stuck", "funnel")
# What `checked` counts for each invariant (the summary's words).
UNITS = {
    "stock": "SKUs and sales",
    "charges": "checkouts",
    "refunds": "refunds",
    "vouchers": "vouchers",
    "events": "deliveries",
    "stuck": "deadlines",
    "funnel": "rollup rows",
}
# How many objects one violation message lists before it says how many more there are.
_LIST = 10


@dataclass
class Verdict:
    """What the checker found: every violation (each names its invariant, the object ids and the numbers) and how
    many objects each invariant looked at."""

    violations: list[str]
    checked: dict[str, int]
    took_s: float = 0.0

    def ok(self) -> bool:
        return not self.violations

    def violated(self) -> set[str]:
        """The names of the invariants with at least one violation."""
        return {v.split(":", 1)[0] for v in self.violations}

    def assert_clean(self) -> None:
        """Raise AssertionError listing every violation (and what was checked) unless there is none."""
        if self.violations:
            listed = "\n".join(f"  {v}" for v in self.violations[:200])
            more = f"\n  ... and {len(self.violations) - 200} more" if len(self.violations) > 200 else ""
            raise AssertionError(f"{len(self.violations)} invariant violations:\n{listed}{more}\n{self.summary()}")

    def summary(self) -> str:
        """One line: how many invariants, how many violations, what each looked at."""
        counts: dict[str, int] = defaultdict(int)
        for violation in self.violations:
            counts[violation.split(":", 1)[0]] += 1
        parts = []
        for name in INVARIANTS:
            bad = f" ({counts[name]} violated)" if counts.get(name) else ""
            parts.append(f"{name} {self.checked.get(name, 0)} {UNITS[name]}{bad}")
        return f"{len(INVARIANTS)} invariants, {len(self.violations)} violations: " + ", ".join(parts)


class _Report:
    def __init__(self) -> None:
        self.violations: list[str] = []
        self.checked: dict[str, int] = dict.fromkeys(INVARIANTS, 0)

    def fail(self, invariant: str, message: str) -> None:
        assert invariant in INVARIANTS, invariant
        self.violations.append(f"{invariant}: {message}")

    def count(self, invariant: str, n: int) -> None:
        self.checked[invariant] += n


def _listed(items: Iterable[object]) -> str:
    items = list(items)
    head = ", ".join(str(i) for i in items[:_LIST])
    return head + (f" and {len(items) - _LIST} more" if len(items) > _LIST else "")
