"""Orders service: wiring."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.runtime import Runtime
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.orders import consumers, jobs
from services.orders.adapters import counters, stripe
from services.orders.api import ROUTES
from services.orders.settings import OrdersSettings
from services.orders.use_cases.recovery import ensure_orphan_sweep


async def _start(runtime: Runtime) -> None:
    """Open the Stripe gateway, create the counters and make sure the orphan-intent sweep is scheduled."""
    stripe.open_gateway(runtime)
    counters.create_counters(runtime)
    await ensure_orphan_sweep(runtime)


async def _stop(runtime: Runtime) -> None:
    await stripe.close_gateway(runtime)


SPEC = ServiceSpec(
    name="orders",
    schema="orders",
    settings=OrdersSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=ROUTES,
    consumers=consumers.subscriptions,
    jobs=jobs.handlers,
    on_start=_start,
    on_stop=_stop,
    description=(
        "Checkout, one order per merchant, Stripe payments and webhooks, payment deadlines; orders from live's"
        " flash-sale admissions and coupons claimed in live rooms."
    ),
)


def create_app(
    settings: OrdersSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The orders app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
