"""The funnel's due jobs: each calls one use case in the job's transaction."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.live.funnel.domain.tiers import DAILY_JOB, SEGMENTS_JOB
from services.live.funnel.use_cases import tiers


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The daily run of host tiers (which schedules each merchant's segments) and one merchant's segments."""

    async def daily(conn: asyncpg.Connection, _key: str, _payload: dict) -> None:
        await tiers.run_daily(runtime, conn)

    async def segments(conn: asyncpg.Connection, merchant_id: str, _payload: dict) -> None:
        await tiers.compute_segments(runtime, conn, merchant_id)

    return {DAILY_JOB: daily, SEGMENTS_JOB: segments}
