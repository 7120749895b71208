"""Live service: wiring of rooms, the room feed, flash sales and coupon drops."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.bus import Subscription
from libs.clock import Clock
from libs.runtime import Runtime
from libs.scheduler import JobHandler
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.live import sales, viewers
from services.live.api import ROUTES
from services.live.handlers import subscriptions
from services.live.hub import FeedHub
from services.live.settings import LiveSettings


def _subscriptions(runtime: Runtime) -> list[Subscription]:
    return [*subscriptions(runtime), *sales.subscriptions(runtime)]


def _jobs(runtime: Runtime) -> dict[str, JobHandler]:
    return {**viewers.jobs(runtime), **sales.jobs(runtime)}


async def _on_start(runtime: Runtime) -> None:
    # The hub first: sales register listeners on it.
    hub = FeedHub(runtime.bus, runtime.db, runtime.clock)
    await hub.start()
    runtime.extras["feed_hub"] = hub
    # Among the loops /ready watches: a stopped dispatcher means this instance's feed clients hear nothing.
    runtime.tasks.extend(hub.tasks)
    await sales.on_start(runtime)


async def _on_stop(runtime: Runtime) -> None:
    await sales.on_stop(runtime)
    await runtime.extras["feed_hub"].stop()


SPEC = ServiceSpec(
    name="live",
    schema="live",
    settings=LiveSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=[*ROUTES, *sales.ROUTES],
    consumers=_subscriptions,
    jobs=_jobs,
    on_start=_on_start,
    on_stop=_on_stop,
    description="Live rooms, their bag and pinned product, viewers, the room feed, flash sales and coupon drops.",
)


def create_app(
    settings: LiveSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The live app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
