"""Orders' counters (orders placed and paid, GMV): created once per process, read through one accessor."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Counter

from libs.runtime import Runtime
from libs.telemetry import names


@dataclass(frozen=True)
class Counters:
    orders_placed: Counter
    orders_paid: Counter
    gmv_paid: Counter


def create_counters(runtime: Runtime) -> None:
    """Create the counters on the process's meter (app start)."""
    meter = runtime.telemetry.meter
    runtime.extras["counters"] = Counters(
        orders_placed=meter.create_counter(names.ORDERS_PLACED, unit="{order}"),
        orders_paid=meter.create_counter(names.ORDERS_PAID, unit="{order}"),
        gmv_paid=meter.create_counter(names.GMV_PAID, unit="{minor_unit}"),
    )


def counters(runtime: Runtime) -> Counters:
    """The process's counters."""
    return runtime.extras["counters"]
