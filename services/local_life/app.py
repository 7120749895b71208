"""Local-life service: wiring."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.local_life import consumers, jobs, rpc
from services.local_life.api import ROUTES
from services.local_life.settings import LocalLifeSettings

SPEC = ServiceSpec(
    name="local_life",
    schema="local_life",
    settings=LocalLifeSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=ROUTES,
    consumers=consumers.subscriptions,
    jobs=jobs.handlers,
    rpc=rpc.responders,
    description="Stores, group-buy deals, vouchers, redemption, expiry and team buys.",
)


def create_app(
    settings: LocalLifeSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The local-life app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
