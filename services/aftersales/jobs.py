"""The deadlines aftersales keeps: one `case_deadline` job per case, for the state it is in."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.aftersales.domain import DEADLINE_JOB
from services.aftersales.use_cases.moves import deadline_passed


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The due-job kinds aftersales runs, each in the job's transaction."""

    async def case_deadline(conn: asyncpg.Connection, case_id: str, payload: dict) -> None:
        await deadline_passed(runtime, conn, case_id, payload)

    return {DEADLINE_JOB: case_deadline}
