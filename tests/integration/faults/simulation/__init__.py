"""A seeded simulation of the order, payment, refund and voucher state machines, in the spirit of TigerBeetle's VOPR.

One run (`run_seed`) builds a small world on a running in-process `Stack` (all five services): a merchant selling two
SKUs in shop, a voucher deal at a store of its own in local_life with a clerk at the counter, a live room its host
sells both in (every checkout line names it), and three buyers. Then, step after step, it launches a few actions at
once (`asyncio.gather`, in the order the seed drew them): buyers check out (goods, the deal, or both), pay, pay with a
card that is declined, cancel a paid order, open an after-sales case; the merchant ships and approves cases; the
clerk redeems vouchers and undoes redemptions; buyers refund unused vouchers; "Stripe" delivers one of its payment
events again (the same event, signed anew, as Stripe retries); "time" moves the services' clock forward so payment
windows, holds and case deadlines fall due and their jobs run. Most steps also arm a crash point of
`libs.faults.POINTS` in this process (`faults.arm(point, after=n)`): the n-th pass raises `InjectedFault` in whatever
task passes it, a request, a consumer, the outbox relay or a due job, as a crash of that task would leave things (its
transaction rolls back, or committed with nothing after it done; a message comes back; a request answers 500 and the
app sends it again with the same Idempotency-Key). A fault stays armed until it fires or FAULT_STEPS steps pass (a
point passed only by work that follows a request, like a refund job's call to Stripe, seldom comes within one step);
one more is armed while the end settles, when every deadline and refund comes due at once.

After every step a model (plain Python, fed only by what the APIs answer) checks what must hold at any instant, from
what each party can read: an order only moves forward (a paid order never becomes unpaid, an order cancelled unpaid
is never paid), refunds never pass what was charged and never shrink, a voucher has at most one live redemption and
a refunded voucher stays refunded, stock is never negative nor more than was received, a deal never sells more than
it has, no paid unit is short of stock, and the room's counters never count more than the facts. At the end the
clock passes every window, the services settle, and the model's expectations must be met exactly: every checkout
paid (when a confirm said the money was taken) or expired (when none could have), every cancel, case and voucher
refund given back once and to the cent, every voucher issued once and in the state the clerk and the buyer left it,
stock on hand = received - sold with nothing held, the deal's remaining = its total - sold, and the room's paid
orders, takings, refunds and vouchers equal to the facts. Then devstack/invariants' checker must find the databases,
outboxes, inboxes and localstripe clean.

How exact a replay is: the seed alone draws the whole plan before anything runs (per step: the actions, in launch
order, each with the numbers that pick its target and quantity; the crash point and its count); the same seed gives
the same plan, action for action and fault for fault. What a draw lands on ("the second payable checkout") depends
on the model, which follows the services' answers, and those depend on real timing: which of two concurrent
requests wins, whether a fault's n-th pass comes while it is armed, how far real time moved the clock. So a replay
makes the same choices and arms the same faults; it is the same run as long as the answers come out the same, which
they mostly do for the first steps and may not later. Every failure prints the trace (the last actions and their
answers) and `LIVELOOP_SIM_SEED=<seed> LIVELOOP_SIM_STEPS=<steps>` to replay it.

Why a scheduler of our own, not hypothesis' RuleBasedStateMachine: its rules run one at a time, while the
interleavings worth finding are concurrent ones (a cancel racing a shipment, a redemption racing a refund, a webhook
racing the payment-window job), which here is one `asyncio.gather`; its shrinking would re-run a live five-service
stack hundreds of times; and driving it from async fixtures needs a second event loop. A seed that replays its plan
gives what shrinking would mostly give: a short, named, repeatable failure.

The package, one responsibility a module: `config` (the services' settings and the run's numbers), `planning` (the
seed's plan), `model` (what the APIs answered, the status graphs, the report), `api` (HTTP as an app sends it),
`world` (the merchant, deal, room and buyers a run builds), `actions` (what a step may launch), `checks` (what must
hold after every step and at the end) and `run` (the driver: steps, faults, the end, the trace).
"""

from __future__ import annotations

from libs import faults
from tests.integration.faults.simulation.config import SETTINGS
from tests.integration.faults.simulation.model import Report, SimulationFailed
from tests.integration.faults.simulation.planning import ACTIONS, Move, Plan, Step, plan
from tests.integration.faults.simulation.run import Simulation, run_seed

__all__ = [
    "ACTIONS",
    "SETTINGS",
    "Move",
    "Plan",
    "Report",
    "Simulation",
    "SimulationFailed",
    "Step",
    "faults",
    "plan",
    "run_seed",
]
