"""What a running service holds: its settings, clock, database, bus, telemetry and background loops.

Every use case takes the service's Runtime first; the web layer (`libs.web.build_app`) makes one per app and
fills it at start-up, and a test may build its own. Nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from libs.clock import Clock
from libs.settings import Settings
from libs.telemetry import Telemetry

if TYPE_CHECKING:
    from libs.bus import Bus, ConsumerRunner, Relay
    from libs.db import Database
    from libs.scheduler import Scheduler

S = TypeVar("S", bound=Settings)


class Runtime(Generic[S]):
    """One service process's parts; `extras` holds what a service adds (each key read through one accessor)."""

    def __init__(self, settings: S, telemetry: Telemetry, clock: Clock) -> None:
        self.settings: S = settings
        self.telemetry = telemetry
        self.clock = clock
        self.db: Database
        self.bus: Bus
        self.relay: Relay
        self.consumers: ConsumerRunner
        self.scheduler: Scheduler
        self.extras: dict[str, Any] = {}
        # Background loops /ready watches: one that stopped makes the instance not ready.
        self.tasks: list[asyncio.Task[None]] = []


__all__ = ["Runtime"]
