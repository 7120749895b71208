"""Due jobs: each runs in its job's transaction (deleted with its effect) and calls one use case."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.local_life.use_cases import expiry, holds, teams


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """Deal holds that neither payment nor cancellation committed or released in time; team buys at their deadline;
    vouchers at their expiry; verify tokens long expired."""

    async def expire_holds(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await holds.expire(runtime, conn, key)

    async def team_deadline(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await teams.deadline_passed(runtime, conn, key)

    async def expire_vouchers(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await expiry.expire_line(runtime, conn, key)

    async def sweep_tokens(conn: asyncpg.Connection, key: str, _payload: dict) -> None:
        await expiry.sweep_tokens(runtime, conn, key)

    return {
        teams.DEADLINE_JOB: team_deadline,
        holds.EXPIRY_JOB: expire_holds,
        expiry.EXPIRY_JOB: expire_vouchers,
        expiry.TOKEN_SWEEP_JOB: sweep_tokens,
    }
