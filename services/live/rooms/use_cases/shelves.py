"""What rooms know of what a host makes besides rooms (short videos): only `HostShelf`.

Rooms never import the videos area; the live app registers its `HostShelf` on the runtime at start-up, and the
host page lists what it answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import asyncpg

from libs.runtime import Runtime

# Where the registered shelf lives on the runtime.
HOST_SHELF = "host_shelf"


class HostShelf(Protocol):
    """A host's videos as their page lists them."""

    async def host_videos(
        self, runtime: Runtime, conn: asyncpg.Connection, host_id: str, now: datetime
    ) -> list[dict[str, Any]]:
        """The host's newest videos, read in the caller's snapshot (JSON-shaped, newest first)."""
        ...


def register_host_shelf(runtime: Runtime, shelf: HostShelf) -> None:
    """Let host pages of this process list the host's videos (the live app does this at start-up)."""
    runtime.extras[HOST_SHELF] = shelf


def host_shelf_of(runtime: Runtime) -> HostShelf | None:
    """The shelf registered on this process, if any."""
    return runtime.extras.get(HOST_SHELF)
