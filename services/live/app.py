"""Live service: the one wiring place of its five areas (rooms, flash sales, coupon drops, short videos, the funnel)."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.bus import Responder, Subscription
from libs.clock import Clock
from libs.runtime import Runtime
from libs.scheduler import JobHandler
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.live.coupons import api as coupon_api
from services.live.coupons.use_cases import DropsInRoom
from services.live.flash_sales import api as flash_sale_api
from services.live.flash_sales import consumers as flash_sale_consumers
from services.live.flash_sales import jobs as flash_sale_jobs
from services.live.flash_sales.use_cases.admissions import admissions_of
from services.live.flash_sales.use_cases.sales import SalesInRoom
from services.live.funnel import api as funnel_api
from services.live.funnel import consumers as funnel_consumers
from services.live.funnel import jobs as funnel_jobs
from services.live.funnel.use_cases import figures as funnel_figures
from services.live.rooms import api as room_api
from services.live.rooms import consumers as room_consumers
from services.live.rooms import jobs as room_jobs
from services.live.rooms import rpc as room_rpc
from services.live.rooms.adapters.feed_hub import feed_hub, start_feed_hub
from services.live.rooms.use_cases.activities import register_activity
from services.live.rooms.use_cases.shelves import register_host_shelf
from services.live.settings import LiveSettings
from services.live.videos import api as video_api
from services.live.videos import rpc as video_rpc
from services.live.videos.use_cases.videos import VideoShelf


def _subscriptions(runtime: Runtime) -> list[Subscription]:
    return [
        *room_consumers.subscriptions(runtime),
        *flash_sale_consumers.subscriptions(runtime),
        *funnel_consumers.subscriptions(runtime),
    ]


def _jobs(runtime: Runtime) -> dict[str, JobHandler]:
    return {**room_jobs.handlers(runtime), **flash_sale_jobs.handlers(runtime), **funnel_jobs.handlers(runtime)}


def _responders(runtime: Runtime) -> list[Responder]:
    return [*room_rpc.responders(runtime), *video_rpc.responders(runtime)]


async def _on_start(runtime: Runtime) -> None:
    # What rooms list in their state and end with themselves, in this order.
    register_activity(runtime, SalesInRoom())
    register_activity(runtime, DropsInRoom())
    register_host_shelf(runtime, VideoShelf())
    # The hub first: the admission engine listens on it for other instances' sale events (sold out, ended).
    hub = await start_feed_hub(runtime)
    hub.add_listener(admissions_of(runtime).on_feed)
    # The funnel's staff feeds: fresh figures for a room's host and merchant on each change.
    await funnel_figures.start_staff_feed(runtime)


async def _on_stop(runtime: Runtime) -> None:
    await admissions_of(runtime).close()
    await feed_hub(runtime).stop()
    await funnel_figures.stop_staff_feed(runtime)


SPEC = ServiceSpec(
    name="live",
    schema="live",
    settings=LiveSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=[*room_api.ROUTES, *flash_sale_api.ROUTES, *coupon_api.ROUTES, *video_api.ROUTES, *funnel_api.ROUTES],
    consumers=_subscriptions,
    jobs=_jobs,
    rpc=_responders,
    on_start=_on_start,
    on_stop=_on_stop,
    description="Live rooms, their bag and pinned product, viewers, the room feed, flash sales and coupon drops.",
)


def create_app(
    settings: LiveSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The live app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
