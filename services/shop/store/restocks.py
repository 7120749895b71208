"""SQL for units put back on hand (cancellations after payment, returns) and the history of those moves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.shop.domain.stock import StockLevel
from services.shop.store.catalogue import level


async def claim(
    conn: asyncpg.Connection,
    *,
    reason: str,
    ref: str,
    line_no: int,
    order_id: str,
    sku_id: str,
    quantity: int,
    restocked: int,
    now: datetime,
) -> bool:
    """Note that a line's units came back; False if this line of this cancellation or return came back before."""
    return bool(
        await conn.fetchval(
            """INSERT INTO restocks (reason, ref, line_no, order_id, sku_id, quantity, restocked, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING true""",
            reason,
            ref,
            line_no,
            order_id,
            sku_id,
            quantity,
            restocked,
            now,
        )
    )


async def shortfalls(conn: asyncpg.Connection, order_id: str, sku_ids: Sequence[str]) -> dict[str, int]:
    """Units of each SKU the order paid for that stock could not supply."""
    rows = await conn.fetch(
        "SELECT sku_id, quantity FROM stock_shortfalls WHERE order_id = $1 AND sku_id = ANY($2::uuid[])",
        order_id,
        list(sku_ids),
    )
    return {str(r["sku_id"]): r["quantity"] for r in rows}


async def put_back(conn: asyncpg.Connection, sku_id: str, quantity: int) -> StockLevel:
    """Units back on hand (and so available)."""
    row = await conn.fetchrow(
        """UPDATE skus SET stock_on_hand = stock_on_hand + $2
            WHERE sku_id = $1 RETURNING sku_id, product_id, merchant_id, stock_on_hand, stock_reserved""",
        sku_id,
        quantity,
    )
    return level(row)


async def record_change(
    conn: asyncpg.Connection,
    sku_id: str,
    *,
    old_on_hand: int,
    new_on_hand: int,
    by: str,
    reason: str,
    ref: str,
    now: datetime,
) -> None:
    """A line in the SKU's history for a stock move that was not a merchant's edit."""
    await conn.execute(
        """INSERT INTO sku_changes (sku_id, field, old_value, new_value, changed_by, changed_at, reason, ref)
           VALUES ($1, 'stock_on_hand', $2, $3, $4, $5, $6, $7)""",
        sku_id,
        old_on_hand,
        new_on_hand,
        by,
        now,
        reason,
        ref,
    )
