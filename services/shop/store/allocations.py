"""SQL for flash-sale allocations: units a sale holds, sells (commits) and gives back."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.shop.domain.allocations import StoredAllocation
from services.shop.store.catalogue import Conn


def _allocation(row: asyncpg.Record) -> StoredAllocation:
    return StoredAllocation(
        allocation_id=row["allocation_id"],
        sku_id=str(row["sku_id"]),
        merchant_id=str(row["merchant_id"]),
        quantity=row["quantity"],
        committed=row["committed"],
        released=row["released"],
    )


async def stored(conn: Conn, allocation_id: str) -> StoredAllocation | None:
    row = await conn.fetchrow(
        """SELECT allocation_id, sku_id, merchant_id, quantity, committed, released
             FROM allocations WHERE allocation_id = $1""",
        allocation_id,
    )
    return _allocation(row) if row else None


async def open_allocation(
    conn: asyncpg.Connection, allocation_id: str, sku_id: str, merchant_id: str, quantity: int, now: datetime
) -> bool:
    """Claim `allocation_id`; False if another allocation already has it.

    A concurrent twin's uncommitted row makes this wait for its outcome, so two retries of one sale's
    allocation never both take stock.
    """
    return bool(
        await conn.fetchval(
            """INSERT INTO allocations (allocation_id, sku_id, merchant_id, quantity, created_at)
               VALUES ($1, $2, $3, $4, $5) ON CONFLICT (allocation_id) DO NOTHING RETURNING true""",
            allocation_id,
            sku_id,
            merchant_id,
            quantity,
            now,
        )
    )


async def record_sale(
    conn: asyncpg.Connection, allocation_id: str, order_id: str, sku_id: str, quantity: int, now: datetime
) -> bool:
    """Note that a paid order took units of a sale; False if this order's units were taken before."""
    return bool(
        await conn.fetchval(
            """INSERT INTO allocation_commits (allocation_id, order_id, sku_id, quantity, source, created_at)
               VALUES ($1, $2, $3, $4, 'allocation', $5) ON CONFLICT DO NOTHING RETURNING true""",
            allocation_id,
            order_id,
            sku_id,
            quantity,
            now,
        )
    )


async def mark_sale_source(
    conn: asyncpg.Connection, allocation_id: str, order_id: str, sku_id: str, source: str
) -> None:
    await conn.execute(
        "UPDATE allocation_commits SET source = $4 WHERE allocation_id = $1 AND order_id = $2 AND sku_id = $3",
        allocation_id,
        order_id,
        sku_id,
        source,
    )


async def take_committed(
    conn: asyncpg.Connection, allocation_id: str, sku_id: str, merchant_id: str, quantity: int
) -> bool:
    """Count `quantity` of the allocation as sold, if that many of its units (this SKU and merchant) are still held."""
    return bool(
        await conn.fetchval(
            """UPDATE allocations SET committed = committed + $4
                WHERE allocation_id = $1 AND sku_id = $2 AND merchant_id::text = $3
                  AND committed + released + $4 <= quantity
               RETURNING true""",
            allocation_id,
            sku_id,
            merchant_id,
            quantity,
        )
    )


async def take_released(
    conn: asyncpg.Connection, allocation_id: str, sku_id: str, merchant_id: str, quantity: int
) -> bool:
    """Count `quantity` of the allocation as given back, if that many of its units (SKU, merchant) are still held."""
    return bool(
        await conn.fetchval(
            """UPDATE allocations SET released = released + $4
                WHERE allocation_id = $1 AND sku_id = $2 AND merchant_id::text = $3
                  AND committed + released + $4 <= quantity
               RETURNING true""",
            allocation_id,
            sku_id,
            merchant_id,
            quantity,
        )
    )


async def sku_exists(conn: Conn, sku_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM skus WHERE sku_id = $1", sku_id))
