"""What after-sales does: today, it keeps the facts of paid orders that later cases stand on."""

from __future__ import annotations

import asyncpg

from libs.contracts import OrderPaid
from libs.runtime import Runtime
from services.aftersales import store


async def remember_paid_order(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """Keep who bought what, from whom and for how much: the ground a later refund or return case stands on."""
    await store.insert_paid_order(conn, event)
