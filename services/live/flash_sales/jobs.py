"""Due-job handlers of flash sales: a sale's start and end by the clock, each in the job's transaction."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.live.flash_sales.use_cases import sales


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The flash-sales area's due jobs."""

    async def start(conn: asyncpg.Connection, sale_id: str, payload: dict) -> None:
        await sales.start_sale(runtime, conn, sale_id)

    async def end(conn: asyncpg.Connection, sale_id: str, payload: dict) -> None:
        await sales.end_sale_on_time(runtime, conn, sale_id)

    return {sales.START_JOB: start, sales.END_JOB: end}
