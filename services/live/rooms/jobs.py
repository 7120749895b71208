"""Due-job handlers of the rooms area: each calls one use case in the job's transaction."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.live.rooms.domain import PRESENCE_SWEEP
from services.live.rooms.domain.visits import VISIT_ENDED
from services.live.rooms.use_cases import visits


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The rooms area's due jobs: the presence sweep of each live session, a left visit's watch time."""

    async def sweep_presence(conn: asyncpg.Connection, session_id: str, payload: dict) -> None:
        await visits.sweep_presence(runtime, conn, session_id)

    async def report_visit_ended(conn: asyncpg.Connection, visit_id: str, payload: dict) -> None:
        await visits.report_visit_ended(runtime, conn, visit_id)

    return {PRESENCE_SWEEP: sweep_presence, VISIT_ENDED: report_visit_ended}
