"""After-sales service: wiring. Cases come with the after-sales issue; today it learns paid orders."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.settings import Settings, from_env
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.aftersales.handlers import SUBSCRIPTIONS

SPEC = ServiceSpec(
    name="aftersales",
    schema="aftersales",
    migrations=Path(__file__).with_name("migrations"),
    route_handlers=[],
    subscriptions=lambda _: SUBSCRIPTIONS,
    description="Refund only, return and refund, exchange, deadlines and arbitration.",
)


def create_app(
    settings: Settings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The after-sales app."""
    return build_app(SPEC, settings or from_env("aftersales"), telemetry=telemetry, clock=clock)
