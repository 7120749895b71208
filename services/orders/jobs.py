"""The deadlines orders keeps: the payment window (Stripe asked first), refunds of money not kept, and recovery
(a confirmed payment looked up at Stripe; the sweep of intents never recorded)."""

from __future__ import annotations

import asyncpg

from libs.runtime import Runtime
from libs.scheduler import JobHandler
from services.orders import domain
from services.orders.domain.fulfilment import AUTO_COMPLETE_JOB
from services.orders.domain.money import REFUND_GRANT_JOB
from services.orders.domain.recovery import ORPHAN_SWEEP_JOB, RECONCILE_JOB
from services.orders.use_cases.fulfilment import auto_complete
from services.orders.use_cases.grants import refund_grant as refund_grant_once
from services.orders.use_cases.payment_window import close_window
from services.orders.use_cases.recovery import reconcile_payment, sweep_orphan_intents
from services.orders.use_cases.refunds import refund


def handlers(runtime: Runtime) -> dict[str, JobHandler]:
    """The due-job kinds orders runs, each in the job's transaction."""

    async def payment_timeout(conn: asyncpg.Connection, checkout_id: str, _: dict) -> None:
        await close_window(runtime, conn, checkout_id)

    async def refund_payment(conn: asyncpg.Connection, intent_id: str, _: dict) -> None:
        await refund(runtime, conn, intent_id)

    async def refund_grant(conn: asyncpg.Connection, grant_id: str, _: dict) -> None:
        await refund_grant_once(runtime, conn, grant_id)

    async def order_auto_complete(conn: asyncpg.Connection, order_id: str, _: dict) -> None:
        await auto_complete(runtime, conn, order_id)

    async def payment_reconcile(conn: asyncpg.Connection, payment_id: str, _: dict) -> None:
        await reconcile_payment(runtime, conn, payment_id)

    async def intent_orphan_sweep(conn: asyncpg.Connection, _key: str, _: dict) -> None:
        await sweep_orphan_intents(runtime, conn)

    return {
        AUTO_COMPLETE_JOB: order_auto_complete,
        ORPHAN_SWEEP_JOB: intent_orphan_sweep,
        RECONCILE_JOB: payment_reconcile,
        domain.PAYMENT_TIMEOUT_JOB: payment_timeout,
        domain.REFUND_JOB: refund_payment,
        REFUND_GRANT_JOB: refund_grant,
    }
