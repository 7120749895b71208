"""SQL for a room's bag: products linked to it, their order, prices and stock."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.live.rooms.domain import ReplicaProduct
from services.live.rooms.views import BagEntry


def _bag_entry(row: asyncpg.Record) -> BagEntry:
    return BagEntry(
        room_id=str(row["room_id"]),
        product_id=str(row["product_id"]),
        position=row["position"],
        added_at=row["added_at"],
    )


async def fetch_product(conn: asyncpg.Connection, product_id: str) -> ReplicaProduct | None:
    row = await conn.fetchrow("SELECT product_id, merchant_id FROM products WHERE product_id = $1", product_id)
    return ReplicaProduct(product_id=str(row["product_id"]), merchant_id=str(row["merchant_id"])) if row else None


async def fetch_bag_entry(conn: asyncpg.Connection, room_id: str, product_id: str) -> BagEntry | None:
    row = await conn.fetchrow(
        "SELECT room_id, product_id, position, added_at FROM bag_items WHERE room_id = $1 AND product_id = $2",
        room_id,
        product_id,
    )
    return _bag_entry(row) if row else None


async def insert_bag_entry(conn: asyncpg.Connection, room_id: str, product_id: str, added_at: datetime) -> BagEntry:
    """Append a product at the end of the bag (call with the room row locked)."""
    row = await conn.fetchrow(
        """INSERT INTO bag_items (room_id, product_id, position, added_at)
           SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3 FROM bag_items WHERE room_id = $1
           RETURNING room_id, product_id, position, added_at""",
        room_id,
        product_id,
        added_at,
    )
    return _bag_entry(row)


async def delete_bag_entry(conn: asyncpg.Connection, room_id: str, product_id: str) -> bool:
    """True if the product was in the bag (unpin it first: the pin must point into the bag)."""
    status = await conn.execute("DELETE FROM bag_items WHERE room_id = $1 AND product_id = $2", room_id, product_id)
    return status != "DELETE 0"


async def bag_product_ids(conn: asyncpg.Connection, room_id: str) -> list[str]:
    """The bag's products in position order."""
    rows = await conn.fetch("SELECT product_id FROM bag_items WHERE room_id = $1 ORDER BY position", room_id)
    return [str(r["product_id"]) for r in rows]


async def reorder_bag(conn: asyncpg.Connection, room_id: str, product_ids: list[str]) -> None:
    """Positions 1..n in the given order (every product of the bag, checked by the caller under the room lock)."""
    await conn.execute(
        """UPDATE bag_items b SET position = t.position
           FROM unnest($2::uuid[]) WITH ORDINALITY AS t(product_id, position)
           WHERE b.room_id = $1 AND b.product_id = t.product_id AND b.position <> t.position""",
        room_id,
        product_ids,
    )


async def fetch_bag_rows(
    conn: asyncpg.Connection, room_id: str, *, product_id: str | None = None
) -> list[asyncpg.Record]:
    """The bag's products (or just one) in position order, with their SKU snapshots and whether pinned."""
    return await conn.fetch(
        """SELECT b.product_id, b.position, p.title, p.skus,
                  r.pinned_product_id IS NOT DISTINCT FROM b.product_id AS pinned
           FROM bag_items b JOIN products p ON p.product_id = b.product_id JOIN rooms r ON r.room_id = b.room_id
           WHERE b.room_id = $1 AND ($2::uuid IS NULL OR b.product_id = $2) ORDER BY b.position""",
        room_id,
        product_id,
    )


async def fetch_stock(conn: asyncpg.Connection, product_ids: list[str]) -> dict[str, int]:
    """Newest known available stock per SKU of these products."""
    rows = await conn.fetch(
        "SELECT sku_id, stock_available FROM sku_stock WHERE product_id = ANY($1::uuid[])", product_ids
    )
    return {str(r["sku_id"]): r["stock_available"] for r in rows}
