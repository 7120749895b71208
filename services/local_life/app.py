"""Local-life service: wiring. Deals and vouchers come with the local-life issue."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.settings import Settings, from_env
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.local_life.handlers import SUBSCRIPTIONS

SPEC = ServiceSpec(
    name="local_life",
    schema="local_life",
    migrations=Path(__file__).with_name("migrations"),
    route_handlers=[],
    subscriptions=lambda _: SUBSCRIPTIONS,
    description="Stores, group-buy deals, vouchers, redemption, expiry and team buys.",
)


def create_app(
    settings: Settings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The local-life app."""
    return build_app(SPEC, settings or from_env("local_life"), telemetry=telemetry, clock=clock)
