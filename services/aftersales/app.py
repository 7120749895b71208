"""After-sales service: wiring. Cases come with the after-sales issue; today it learns paid orders."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.aftersales import consumers
from services.aftersales.settings import AftersalesSettings

SPEC = ServiceSpec(
    name="aftersales",
    schema="aftersales",
    settings=AftersalesSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=[],
    consumers=consumers.subscriptions,
    description="Refund only, return and refund, exchange, deadlines and arbitration.",
)


def create_app(
    settings: AftersalesSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The after-sales app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
