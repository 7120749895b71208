"""Flash sales and coupon drops of live rooms: what they add to the live service's wiring."""

from __future__ import annotations

from typing import Any

from libs.bus import Subscription
from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.live.sales import api as flash_api
from services.live.sales import coupons, flash_setup

# Route handlers of flash sales and coupon drops.
ROUTES: list[Any] = [*flash_api.ROUTES, *coupons.ROUTES]


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """Durable consumers of flash sales and coupon drops."""
    return [*flash_setup.subscriptions(runtime)]


def jobs(runtime: Runtime) -> dict[str, JobHandler]:
    """Due-job handlers of flash sales and coupon drops."""
    return {**flash_setup.jobs(runtime)}


async def on_start(runtime: Runtime) -> None:
    """Start what sales need in this process (after the room feed hub is up)."""
    await flash_setup.on_start(runtime)


async def on_stop(runtime: Runtime) -> None:
    """Stop what on_start started."""
    await flash_setup.on_stop(runtime)
