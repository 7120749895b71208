"""What orders keeps on the shared Runtime besides the plumbing: its Stripe gateway and its counters."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Counter

from libs.runtime import Runtime
from libs.telemetry import names
from services.orders.payments import StripeGateway


@dataclass(frozen=True)
class Instruments:
    orders_placed: Counter
    orders_paid: Counter
    gmv_paid: Counter


async def start(runtime: Runtime) -> None:
    """Open the Stripe gateway and create the counters."""
    meter = runtime.telemetry.meter
    runtime.extras["stripe"] = StripeGateway(runtime.settings)
    runtime.extras["instruments"] = Instruments(
        orders_placed=meter.create_counter(names.ORDERS_PLACED, unit="{order}"),
        orders_paid=meter.create_counter(names.ORDERS_PAID, unit="{order}"),
        gmv_paid=meter.create_counter(names.GMV_PAID, unit="{minor_unit}"),
    )


async def stop(runtime: Runtime) -> None:
    await gateway(runtime).close()


def gateway(runtime: Runtime) -> StripeGateway:
    return runtime.extras["stripe"]


def instruments(runtime: Runtime) -> Instruments:
    return runtime.extras["instruments"]
