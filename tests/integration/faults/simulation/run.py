"""The driver: one seed's run, step after step (each arming its fault, launching its moves at once, then checking
what must hold), then the end (every window passes, the services settle, the model and the invariant checker judge),
with the trace a failure prints and the replay it names."""

from __future__ import annotations

import asyncio
import time

from libs import faults
from tests.harness import Infra, Stack, eventually
from tests.integration.faults.simulation.actions import Actions, catch_up
from tests.integration.faults.simulation.api import Api
from tests.integration.faults.simulation.checks import check_buyers_view, observe, unsettled
from tests.integration.faults.simulation.config import FAULT_STEPS, FINAL_JUMP_S, SETTLE_S, TRACE_SHOWN
from tests.integration.faults.simulation.model import Model, Report, SimulationFailed
from tests.integration.faults.simulation.planning import Step, plan
from tests.integration.faults.simulation.world import World, build


class Simulation:
    """One seed's run against a running stack."""

    world: World  # built by `run`, before the first step
    actions: Actions

    def __init__(self, stack: Stack, seed: int, steps: int) -> None:
        self.stack = stack
        self.infra: Infra = stack.infra
        self.seed = seed
        self.plan = plan(seed, steps)
        self._armed: tuple[str, int, int] | None = None  # point, count, last step
        self.report = Report(seed, steps)
        self.trace: list[str] = self.report.trace
        self.model = Model(self.report)
        self.api = Api(stack, self.report)
        self.started_at = int(time.time()) - 1

    async def run(self) -> Report:
        started = time.monotonic()
        try:
            self.world = await build(self.stack, self.api, self.seed)
            self.actions = Actions(self.stack, self.api, self.world, self.model, self.started_at)
            for number, step in enumerate(self.plan.steps):
                await self._step(number, step)
            await self.finish()
        except Exception as exc:
            faults.disarm()
            message = self.failure(exc)
            print(message)
            raise SimulationFailed(message) from exc
        finally:
            faults.disarm()
            await self.api.aclose()
            self.report.seconds = time.monotonic() - started
        return self.report

    async def _step(self, number: int, step: Step) -> None:
        if step.fault is not None:
            self._arm(*step.fault, until=number + FAULT_STEPS - 1)
        for move in step.moves:
            self.report.actions[move.kind] += 1
        outcomes = await asyncio.gather(*(self.actions.act(move) for move in step.moves), return_exceptions=True)
        # Still armed through the reads (the relay, consumers and jobs keep passing crash points meanwhile).
        self.model.violations.clear()
        await observe(self.api, self.world, self.model)
        self.trace.append(f"step {number}{self._fault_passed(number)}")
        for move, outcome in zip(step.moves, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                self.trace.append(f"  {move.kind}: {type(outcome).__name__}: {outcome}")
                self.report.outcomes["error"] += 1
            else:
                self.trace.append(f"  {outcome}")
                # "pay p3 -> 202 succeeded" counts as "pay 202"; an action with nothing to act on as "skipped".
                answered = outcome.split(" -> ", 1)[1].split(" ", 1)[0] if " -> " in outcome else "skipped"
                self.report.outcomes[f"{move.kind} {answered}"] += 1
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            raise errors[0]
        if self.model.violations:
            raise SimulationFailed(f"step {number}: " + "; ".join(self.model.violations))

    def _arm(self, point: str, after: int, until: int) -> None:
        faults.disarm()
        faults.arm(point, after=after)
        self._armed = (point, after, until)
        self.report.faults_armed[point] += 1

    def _fault_passed(self, number: int) -> str:
        """Whether the armed fault fired by now (then it is done), or ran out of steps (then it is disarmed)."""
        if self._armed is None:
            return ""
        point, after, until = self._armed
        if not faults.pending(point):
            self.report.faults_fired[point] += 1
            self._armed = None
            faults.disarm()
            return f" [{point}:{after} fired]"
        if number >= until:
            self._armed = None
            faults.disarm()
            return f" [{point}:{after} not reached]"
        return f" [{point}:{after} armed]"

    async def finish(self) -> None:
        """Every window passes; the services settle; the model's expectations and the invariant checker hold."""
        point, after = self.plan.final_fault
        behind = await catch_up(self.infra)
        self._arm(point, after, until=len(self.plan.steps))
        self.stack.clock.advance(FINAL_JUMP_S)
        self.trace.append(f"end [{point}:{after} armed]: time_passes +{FINAL_JUMP_S}s{behind}, then settling")

        async def settled() -> bool:
            self.model.violations.clear()
            figures = await observe(self.api, self.world, self.model)
            if self._armed is not None and not faults.pending(point):
                self.trace.append(f"end: {self._fault_passed(len(self.plan.steps)).strip()}")
            if self.model.violations:
                raise SimulationFailed("; ".join(self.model.violations))
            self._left = unsettled(self.model, self.world, figures)
            return not self._left

        self._left: list[str] = []
        try:
            await eventually(settled, timeout=SETTLE_S, interval=0.5)
        except AssertionError as exc:
            if isinstance(exc, SimulationFailed):
                raise
            raise SimulationFailed(f"not settled within {SETTLE_S:.0f}s: " + "; ".join(self._left)) from None
        if self._armed is not None:
            self.trace.append(f"end: {self._fault_passed(len(self.plan.steps)).strip()}")
        self.report.paid = sum(p.paid for p in self.model.purchases)
        self.report.expired = len(self.model.purchases) - self.report.paid
        await check_buyers_view(self.api, self.world, self.model)
        from devstack.invariants import check_invariants, settle

        infra = self.infra
        await settle(
            database_url=infra.database_url, nats_url=infra.nats_url, namespace=infra.namespace, timeout=SETTLE_S
        )
        verdict = await check_invariants(
            database_url=infra.database_url,
            nats_url=infra.nats_url,
            namespace=infra.namespace,
            stripe_base=infra.stripe_base,
            # Deadlines are in the services' clock, which the run moved forward.
            now=self.stack.clock.now(),
        )
        self.report.invariants = verdict.summary()
        try:
            verdict.assert_clean()
        except AssertionError as exc:
            raise SimulationFailed(f"invariants: {exc}") from None

    def failure(self, exc: BaseException) -> str:
        shown = self.trace[-TRACE_SHOWN:]
        return (
            f"seeded simulation failed: {type(exc).__name__}: {exc}\n"
            f"replay with LIVELOOP_SIM_SEED={self.seed} LIVELOOP_SIM_STEPS={len(self.plan.steps)}\n"
            f"last {len(shown)} trace lines of {len(self.trace)}:\n  " + "\n  ".join(shown)
        )


async def run_seed(stack: Stack, seed: int, steps: int) -> Report:
    """One seeded run on a running stack (all five services, `SETTINGS`); raises SimulationFailed with the replay."""
    return await Simulation(stack, seed, steps).run()
