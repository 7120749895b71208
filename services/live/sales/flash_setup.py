"""Flash sales' part of the live service's wiring: consumer, jobs, the admission engine's life."""

from __future__ import annotations

import logging

from libs.bus import Subscription
from libs.contracts import OrderCancelled, OrderPaid
from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.live.sales import flash, outcomes
from services.live.sales.admission import DESK
from services.live.sales.api import desk

log = logging.getLogger(__name__)


def subscriptions(runtime: Runtime) -> list[Subscription]:
    return [
        Subscription(
            outcomes.CONSUMER, (OrderPaid.SUBJECT, OrderCancelled.SUBJECT), outcomes.settle_admissions(runtime)
        )
    ]


def jobs(runtime: Runtime) -> dict[str, JobHandler]:
    return {flash.START_JOB: flash.start_job, flash.END_JOB: flash.end_job(runtime.clock)}


async def on_start(runtime: Runtime) -> None:
    """Make the admission engine and let it hear other instances' sale events from the room feed hub."""
    engine = desk(runtime)
    hub = runtime.extras.get("feed_hub")
    if hub is None:
        # Sold-out flags are then re-checked against the database (admission.RECHECK_S) instead.
        log.warning("no room feed hub: flash-sale flags follow the database only")
        return
    hub.add_listener(engine.on_feed)


async def on_stop(runtime: Runtime) -> None:
    engine = runtime.extras.get(DESK)
    if engine is not None:
        await engine.close()
