"""Live service: wiring of rooms, the room feed, flash sales and coupon drops."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.bus import Subscription
from libs.clock import Clock
from libs.settings import Settings, from_env
from libs.telemetry import Telemetry
from libs.web.app import Runtime, ServiceSpec, build_app
from services.live import sales
from services.live.api import ROUTES
from services.live.handlers import subscriptions


def _subscriptions(runtime: Runtime) -> list[Subscription]:
    return [*subscriptions(runtime), *sales.subscriptions(runtime)]


async def _on_start(runtime: Runtime) -> None:
    await sales.on_start(runtime)


async def _on_stop(runtime: Runtime) -> None:
    await sales.on_stop(runtime)


SPEC = ServiceSpec(
    name="live",
    schema="live",
    migrations=Path(__file__).with_name("migrations"),
    route_handlers=[*ROUTES, *sales.ROUTES],
    subscriptions=_subscriptions,
    jobs=sales.jobs,
    on_start=_on_start,
    on_stop=_on_stop,
    description="Live rooms, their bag and pinned product, viewers, the room feed, flash sales and coupon drops.",
)


def create_app(
    settings: Settings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The live app."""
    return build_app(SPEC, settings or from_env("live"), telemetry=telemetry, clock=clock)
