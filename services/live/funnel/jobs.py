"""(being written)"""

from __future__ import annotations

from libs.runtime import Runtime
from libs.scheduler import JobHandler


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The funnel's due jobs."""
    return {}
