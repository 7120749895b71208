"""Due jobs: each runs in its job's transaction (deleted with its effect) and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.local_life.use_cases import holds


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """Deal holds that neither payment nor cancellation committed or released in time."""

    async def expire_holds(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await holds.expire(runtime, conn, key)

    return {holds.EXPIRY_JOB: expire_holds}
