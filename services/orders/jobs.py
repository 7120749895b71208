"""The deadlines orders keeps: the payment window (Stripe asked first), and refunds of money not kept."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.orders import domain
from services.orders.use_cases.payment_window import close_window
from services.orders.use_cases.refunds import refund


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The due-job kinds orders runs, each in the job's transaction."""

    async def payment_timeout(conn: asyncpg.Connection, checkout_id: str, _: dict) -> None:
        await close_window(runtime, conn, checkout_id)

    async def refund_payment(conn: asyncpg.Connection, intent_id: str, _: dict) -> None:
        await refund(runtime, conn, intent_id)

    return {domain.PAYMENT_TIMEOUT_JOB: payment_timeout, domain.REFUND_JOB: refund_payment}
