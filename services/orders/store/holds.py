"""SQL for what one buyer holds unpaid: checkouts awaiting payment and units per SKU in them (flash-sale orders
left out: live's admissions cap those), and the per-buyer lock that makes counting and placing one step."""

from __future__ import annotations

import asyncpg

from services.orders.store.checkouts import Conn

# The two-key advisory lock space (as abandoned.py's checkout-id class); this class names buyers.
_BUYER_LOCK_CLASS = 0x0B0B


async def lock_buyer(conn: asyncpg.Connection, buyer_id: str) -> None:
    """Serialise the buyer's checkouts being placed until the transaction ends: two cannot both pass the caps."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _BUYER_LOCK_CLASS, buyer_id)


async def unpaid_checkouts(db: Conn, buyer_id: str, *, excluding: str) -> int:
    """The buyer's checkouts awaiting payment, other than `excluding` (the one being placed, if a twin wrote it)."""
    return await db.fetchval(
        """SELECT count(*) FROM checkouts c
           WHERE c.buyer_id = $1 AND c.status = 'awaiting_payment' AND c.checkout_id <> $2
             AND NOT EXISTS (SELECT 1 FROM orders o JOIN order_lines l ON l.order_id = o.order_id
                             WHERE o.checkout_id = c.checkout_id AND l.flash_sale_id IS NOT NULL)""",
        buyer_id,
        excluding,
    )


async def units_held(db: Conn, buyer_id: str, sku_ids: list[str], *, excluding: str) -> dict[str, int]:
    """Units of these SKUs in the buyer's orders awaiting payment (lower-case sku id -> units), but `excluding`'s."""
    rows = await db.fetch(
        """SELECT l.sku_id::text, sum(l.quantity)::int AS units
           FROM orders o JOIN order_lines l ON l.order_id = o.order_id
           WHERE o.buyer_id = $1 AND o.status = 'awaiting_payment' AND o.checkout_id <> $3
             AND l.flash_sale_id IS NULL AND l.sku_id = ANY($2::uuid[])
           GROUP BY l.sku_id""",
        buyer_id,
        sku_ids,
        excluding,
    )
    return {r["sku_id"]: r["units"] for r in rows}
