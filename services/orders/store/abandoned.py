"""SQL for checkouts refused after their stock was reserved: recorded once, never alongside a placed checkout."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.orders.store.checkouts import Conn

# The two-key advisory lock space, apart from write_once's one-key locks; this class names checkout ids.
_CHECKOUT_LOCK_CLASS = 0x0C0C


async def lock_checkout_id(conn: asyncpg.Connection, checkout_id: str) -> None:
    """Serialise placing and abandoning one checkout id until the transaction ends.

    Row locks cannot do it: neither the checkout nor its abandonment row exists yet.
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _CHECKOUT_LOCK_CLASS, checkout_id)


async def record_abandoned(
    conn: asyncpg.Connection, checkout_id: str, buyer_id: str, reason: str, now: datetime
) -> bool:
    """Record the checkout as abandoned; False if it already is, or if it was placed after all (a concurrent twin)."""
    return bool(
        await conn.fetchval(
            """INSERT INTO abandoned_checkouts (checkout_id, buyer_id, reason, abandoned_at)
               SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM checkouts WHERE checkout_id = $1)
               ON CONFLICT (checkout_id) DO NOTHING RETURNING true""",
            checkout_id,
            buyer_id,
            reason,
            now,
        )
    )


async def checkout_abandoned(db: Conn, checkout_id: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM abandoned_checkouts WHERE checkout_id = $1", checkout_id))
