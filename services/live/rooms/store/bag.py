"""SQL for a room's bag: products and deals linked to it, their order, prices, stock and whether on sale."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.live.rooms.domain import DEAL, PRODUCT, BagRef, ReplicaProduct
from services.live.rooms.views import BagEntry


def _bag_entry(row: asyncpg.Record) -> BagEntry:
    return BagEntry(
        room_id=str(row["room_id"]),
        product_id=str(row["product_id"]) if row["product_id"] else None,
        deal_id=str(row["deal_id"]) if row["deal_id"] else None,
        position=row["position"],
        added_at=row["added_at"],
    )


# The column naming each kind of entry (fixed names: never from a request).
_COLUMN = {PRODUCT: "product_id", DEAL: "deal_id"}


async def fetch_product(conn: asyncpg.Connection, product_id: str) -> ReplicaProduct | None:
    row = await conn.fetchrow("SELECT product_id, merchant_id FROM products WHERE product_id = $1", product_id)
    return ReplicaProduct(product_id=str(row["product_id"]), merchant_id=str(row["merchant_id"])) if row else None


async def fetch_bag_entry(conn: asyncpg.Connection, room_id: str, ref: BagRef) -> BagEntry | None:
    row = await conn.fetchrow(
        # The column comes from _COLUMN above, never from the caller.
        f"""SELECT room_id, product_id, deal_id, position, added_at FROM bag_items
            WHERE room_id = $1 AND {_COLUMN[ref.kind]} = $2""",  # noqa: S608
        room_id,
        ref.id,
    )
    return _bag_entry(row) if row else None


async def insert_bag_entry(conn: asyncpg.Connection, room_id: str, ref: BagRef, added_at: datetime) -> BagEntry:
    """Append a product or a deal at the end of the bag (call with the room row locked)."""
    row = await conn.fetchrow(
        f"""INSERT INTO bag_items (room_id, {_COLUMN[ref.kind]}, position, added_at)
            SELECT $1, $2, COALESCE(MAX(position), 0) + 1, $3 FROM bag_items WHERE room_id = $1
            RETURNING room_id, product_id, deal_id, position, added_at""",  # noqa: S608 - fixed column
        room_id,
        ref.id,
        added_at,
    )
    return _bag_entry(row)


async def delete_bag_entry(conn: asyncpg.Connection, room_id: str, ref: BagRef) -> bool:
    """True if the entry was in the bag (unpin it first: the pin must point into the bag)."""
    status = await conn.execute(
        f"DELETE FROM bag_items WHERE room_id = $1 AND {_COLUMN[ref.kind]} = $2",  # noqa: S608 - fixed column
        room_id,
        ref.id,
    )
    return status != "DELETE 0"


async def bag_refs(conn: asyncpg.Connection, room_id: str) -> list[BagRef]:
    """The bag's entries (products and deals) in position order."""
    rows = await conn.fetch("SELECT product_id, deal_id FROM bag_items WHERE room_id = $1 ORDER BY position", room_id)
    return [BagRef(PRODUCT, str(r["product_id"])) if r["product_id"] else BagRef(DEAL, str(r["deal_id"])) for r in rows]


async def reorder_bag(conn: asyncpg.Connection, room_id: str, refs: list[BagRef]) -> None:
    """Positions 1..n in the given order (every entry of the bag, checked by the caller under the room lock)."""
    await conn.execute(
        """UPDATE bag_items b SET position = t.position
           FROM unnest($2::text[], $3::uuid[]) WITH ORDINALITY AS t(kind, id, position)
           WHERE b.room_id = $1 AND b.position <> t.position
             AND CASE t.kind WHEN 'product' THEN b.product_id = t.id ELSE b.deal_id = t.id END""",
        room_id,
        [r.kind for r in refs],
        [r.id for r in refs],
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


async def fetch_bag_deal_rows(
    conn: asyncpg.Connection, room_id: str, *, deal_id: str | None = None
) -> list[asyncpg.Record]:
    """The bag's deals (or just one) in position order, with their terms, status and whether pinned."""
    return await conn.fetch(
        """SELECT b.deal_id, b.position, d.title, d.price_minor, d.original_value_minor, d.currency,
                  d.vouchers_per_purchase, d.team_size, d.status,
                  r.pinned_deal_id IS NOT DISTINCT FROM b.deal_id AS pinned
           FROM bag_items b JOIN deals d ON d.deal_id = b.deal_id JOIN rooms r ON r.room_id = b.room_id
           WHERE b.room_id = $1 AND ($2::uuid IS NULL OR b.deal_id = $2) ORDER BY b.position""",
        room_id,
        deal_id,
    )


async def fetch_stock(conn: asyncpg.Connection, product_ids: list[str]) -> dict[str, int]:
    """Newest known available stock per SKU of these products."""
    rows = await conn.fetch(
        "SELECT sku_id, stock_available FROM sku_stock WHERE product_id = ANY($1::uuid[])", product_ids
    )
    return {str(r["sku_id"]): r["stock_available"] for r in rows}
