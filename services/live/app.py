"""Live service: wiring. Flash sales, room lifecycle and the room feed come with their own issues."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.settings import Settings, from_env
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.live.api import ROUTES
from services.live.handlers import subscriptions

SPEC = ServiceSpec(
    name="live",
    schema="live",
    migrations=Path(__file__).with_name("migrations"),
    route_handlers=ROUTES,
    subscriptions=subscriptions,
    description="Live rooms, their shopping bag, views and per-room paid orders.",
)


def create_app(
    settings: Settings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The live app."""
    return build_app(SPEC, settings or from_env("live"), telemetry=telemetry, clock=clock)
