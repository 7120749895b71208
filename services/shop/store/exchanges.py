"""SQL for after-sales exchanges: the replacement units an exchange took off hand and gave back."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.shop.domain.exchanges import RELEASED, TAKEN, Replacement, StoredExchange
from services.shop.store.catalogue import Conn


def _exchange(row: asyncpg.Record) -> StoredExchange:
    return StoredExchange(
        exchange_id=row["exchange_id"],
        merchant_id=str(row["merchant_id"]),
        sku_id=str(row["sku_id"]),
        quantity=row["quantity"],
        status=row["status"],
        taken=row["taken"],
    )


async def stored(conn: Conn, exchange_id: str) -> StoredExchange | None:
    row = await conn.fetchrow(
        """SELECT exchange_id, merchant_id, sku_id, quantity, status, taken_at IS NOT NULL AS taken
             FROM exchanges WHERE exchange_id = $1""",
        exchange_id,
    )
    return _exchange(row) if row else None


async def _open(conn: asyncpg.Connection, wanted: Replacement, status: str, now: datetime) -> bool:
    return bool(
        await conn.fetchval(
            """INSERT INTO exchanges (exchange_id, merchant_id, product_id, sku_id, quantity, status,
                                      taken_at, released_at, created_at)
               VALUES ($1, $2, $3, $4, $5, $6,
                       CASE WHEN $6 = 'taken' THEN $7::timestamptz END,
                       CASE WHEN $6 = 'released' THEN $7::timestamptz END, $7)
               ON CONFLICT (exchange_id) DO NOTHING RETURNING true""",
            wanted.exchange_id,
            wanted.merchant_id,
            wanted.product_id,
            wanted.sku_id,
            wanted.quantity,
            status,
            now,
        )
    )


async def open_taken(conn: asyncpg.Connection, wanted: Replacement, now: datetime) -> bool:
    """Claim the exchange id for a take; False if it is used already.

    A concurrent twin's uncommitted row makes this wait for its outcome, so two retries of one take never both take.
    """
    return await _open(conn, wanted, TAKEN, now)


async def open_released(conn: asyncpg.Connection, wanted: Replacement, now: datetime) -> bool:
    """Remember a release of an id never taken, so a take arriving after it takes nothing; False if the id is used."""
    return await _open(conn, wanted, RELEASED, now)


async def mark_released(conn: asyncpg.Connection, exchange_id: str, now: datetime) -> bool:
    """A taken exchange becomes released, once; False if it is not (or no longer) taken."""
    return bool(
        await conn.fetchval(
            """UPDATE exchanges SET status = 'released', released_at = $2
                WHERE exchange_id = $1 AND status = 'taken' RETURNING true""",
            exchange_id,
            now,
        )
    )


async def lock(conn: asyncpg.Connection, exchange_id: str) -> StoredExchange | None:
    """The exchange, locked until the transaction ends (a release and a take of one id are serialised)."""
    row = await conn.fetchrow(
        """SELECT exchange_id, merchant_id, sku_id, quantity, status, taken_at IS NOT NULL AS taken
             FROM exchanges WHERE exchange_id = $1 FOR UPDATE""",
        exchange_id,
    )
    return _exchange(row) if row else None
