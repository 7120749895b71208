"""Shop service: wiring."""

from __future__ import annotations

from pathlib import Path

from litestar import Litestar

from libs.clock import Clock
from libs.telemetry import Telemetry
from libs.web.app import ServiceSpec, build_app
from services.shop import consumers, jobs, rpc
from services.shop.api import ROUTES
from services.shop.settings import ShopSettings

SPEC = ServiceSpec(
    name="shop",
    schema="shop",
    settings=ShopSettings,
    migrations=Path(__file__).with_name("migrations"),
    routes=ROUTES,
    consumers=consumers.subscriptions,
    jobs=jobs.handlers,
    rpc=rpc.responders,
    description=(
        "Merchants, catalogue, SKUs and stock, reservations for checkout, flash-sale allocations, buyer carts, "
        "units back on hand after cancellations and returns, exchange replacements."
    ),
)


def create_app(
    settings: ShopSettings | None = None, *, telemetry: Telemetry | None = None, clock: Clock | None = None
) -> Litestar:
    """The shop app."""
    return build_app(SPEC, settings, telemetry=telemetry, clock=clock)
