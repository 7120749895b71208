"""Due jobs: each runs in its job's transaction (deleted with its effect) and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.shop.use_cases import stock


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """Holds that neither payment nor cancellation released or committed in time."""

    async def expire(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await stock.expire(runtime, conn, key)

    return {stock.EXPIRY_JOB: expire}
