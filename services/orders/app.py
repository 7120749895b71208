"""Orders service: wiring."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.orders import consumers, context, jobs
from services.orders.api import ROUTES
from services.orders.settings import OrdersSettings

SPEC = ServiceSpec(
    name="orders",
    schema="orders",
    settings=OrdersSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=ROUTES,
    consumers=consumers.subscriptions,
    jobs=jobs.jobs,
    on_start=context.start,
    on_stop=context.stop,
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
