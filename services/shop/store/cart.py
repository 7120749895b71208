"""SQL for buyer carts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.shop.store.catalogue import Conn
from services.shop.views import CartLineView, CartSource

_LINE = """SELECT c.sku_id, s.product_id, p.title, s.name AS sku_name, c.quantity, s.price_minor, s.currency,
                  s.stock_on_hand - s.stock_reserved AS stock_available, c.source_type, c.source_id,
                  c.source_verified, c.added_at
             FROM cart_items c
             JOIN skus s ON s.sku_id = c.sku_id
             JOIN products p ON p.product_id = s.product_id"""


def _line(row: asyncpg.Record) -> CartLineView:
    source = (
        CartSource(type=row["source_type"], id=row["source_id"], verified=row["source_verified"])
        if row["source_type"]
        else None
    )
    return CartLineView(
        sku_id=str(row["sku_id"]),
        product_id=str(row["product_id"]),
        title=row["title"],
        sku_name=row["sku_name"],
        quantity=row["quantity"],
        unit_price_minor=row["price_minor"],
        currency=row["currency"],
        stock_available=row["stock_available"],
        source=source,
        added_at=row["added_at"],
    )


async def lines(conn: Conn, buyer_id: str, sku_id: str | None = None) -> list[CartLineView]:
    """A buyer's cart (or one line of it), oldest line first, priced from the catalogue now."""
    rows = await conn.fetch(
        f"""{_LINE} WHERE c.buyer_id = $1 AND ($2::uuid IS NULL OR c.sku_id = $2)
            ORDER BY c.added_at, c.sku_id""",
        buyer_id,
        sku_id,
    )
    return [_line(r) for r in rows]


async def put(
    conn: asyncpg.Connection,
    buyer_id: str,
    sku_id: str,
    quantity: int,
    source: tuple[str, str] | None,
    now: datetime,
    *,
    source_verified: bool,
) -> bool | None:
    """Set a line's quantity (True if the line is new); None if the SKU is not for sale.

    A line updated without a source keeps the one it had (and whether it was verified), so changing the quantity
    on the cart page does not erase which room sold it.
    """
    source_type, source_id = source or (None, None)
    return await conn.fetchval(
        """INSERT INTO cart_items (buyer_id, sku_id, quantity, source_type, source_id, source_verified, added_at,
                                   updated_at)
           SELECT $1, s.sku_id, $3, $4, $5, $7, $6, $6
             FROM skus s JOIN products p ON p.product_id = s.product_id
            WHERE s.sku_id = $2 AND p.status = 'published'
           ON CONFLICT (buyer_id, sku_id) DO UPDATE
              SET quantity = EXCLUDED.quantity,
                  source_type = COALESCE(EXCLUDED.source_type, cart_items.source_type),
                  source_id = COALESCE(EXCLUDED.source_id, cart_items.source_id),
                  source_verified = COALESCE(EXCLUDED.source_verified, cart_items.source_verified),
                  updated_at = EXCLUDED.updated_at
           RETURNING (xmax = 0)""",
        buyer_id,
        sku_id,
        quantity,
        source_type,
        source_id,
        now,
        source_verified if source else None,
    )


async def quantity_of(conn: Conn, buyer_id: str, sku_id: str) -> int:
    """How many of the SKU the buyer's cart holds (0 without a line)."""
    return await conn.fetchval(
        "SELECT coalesce(max(quantity), 0) FROM cart_items WHERE buyer_id = $1 AND sku_id = $2", buyer_id, sku_id
    )


# The two-key advisory lock space; this class names buyers whose cart is being added to.
_CART_LOCK_CLASS = 0x0CA7


async def lock_cart(conn: asyncpg.Connection, buyer_id: str) -> None:
    """Serialise additions to one buyer's cart until the transaction ends, so the line cap holds under races."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _CART_LOCK_CLASS, buyer_id)


async def line_count(conn: Conn, buyer_id: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM cart_items WHERE buyer_id = $1", buyer_id)


async def remove(conn: Conn, buyer_id: str, sku_ids: Sequence[str]) -> int:
    """Drop lines from a buyer's cart; returns how many were there."""
    result = await conn.execute(
        "DELETE FROM cart_items WHERE buyer_id = $1 AND sku_id = ANY($2::uuid[])", buyer_id, list(sku_ids)
    )
    return int(result.split()[-1])
