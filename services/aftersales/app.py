"""After-sales service: wiring."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.aftersales import consumers, jobs
from services.aftersales.api import ROUTES
from services.aftersales.settings import AftersalesSettings

SPEC = ServiceSpec(
    name="aftersales",
    schema="aftersales",
    settings=AftersalesSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=ROUTES,
    consumers=consumers.subscriptions,
    jobs=jobs.handlers,
    description="Refund only, return and refund, exchange: cases, their deadlines and arbitration.",
)


def create_app(
    settings: AftersalesSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The after-sales app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
