"""Paid orders as orders announces them (voucher issuance for deal lines will hang off this)."""

from __future__ import annotations

import asyncpg

from libs.contracts import OrderPaid
from libs.runtime import Runtime
from services.local_life.store import paid_orders as store


async def note_paid_order(runtime: Runtime, conn: asyncpg.Connection, event: OrderPaid) -> None:
    """Record a paid order and the SKUs it bought."""
    await store.insert_paid_order(conn, event)
