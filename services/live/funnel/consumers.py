"""(being written)"""

from __future__ import annotations

from libs.bus import Subscription
from libs.runtime import Runtime


def subscriptions(runtime: Runtime) -> list[Subscription]:
    """The funnel's micro-batched consumers."""
    return []
