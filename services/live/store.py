"""SQL for the live schema: rooms, bag, views, counters and the catalogue replica."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from libs.contracts import ProductPublished, ProductUpdated, StockChanged
from services.live.domain import BagEntry, ReplicaProduct, Room, RoomStats

_SELECT_ROOM = """SELECT room_id, host_id, merchant_id, title, cover_url, status, scheduled_start_at, created_at
                  FROM rooms WHERE room_id = $1"""


def _room(row: asyncpg.Record) -> Room:
    return Room(
        room_id=str(row["room_id"]),
        host_id=row["host_id"],
        merchant_id=str(row["merchant_id"]),
        title=row["title"],
        cover_url=row["cover_url"],
        status=row["status"],
        scheduled_start_at=row["scheduled_start_at"],
        created_at=row["created_at"],
    )


def _bag_entry(row: asyncpg.Record) -> BagEntry:
    return BagEntry(
        room_id=str(row["room_id"]),
        product_id=str(row["product_id"]),
        position=row["position"],
        added_at=row["added_at"],
    )


# --- rooms ----------------------------------------------------------------------------


async def insert_room(conn: asyncpg.Connection, room: Room) -> None:
    """A new room and its zeroed counters."""
    await conn.execute(
        """INSERT INTO rooms (room_id, host_id, merchant_id, title, cover_url, status, scheduled_start_at, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        room.room_id,
        room.host_id,
        room.merchant_id,
        room.title,
        room.cover_url,
        room.status,
        room.scheduled_start_at,
        room.created_at,
    )
    await conn.execute("INSERT INTO room_stats (room_id, updated_at) VALUES ($1, $2)", room.room_id, room.created_at)


async def fetch_room(conn: asyncpg.Connection, room_id: str, *, lock: bool = False) -> Room | None:
    """The room, optionally row-locked so bag changes of one room happen one at a time."""
    row = await conn.fetchrow(_SELECT_ROOM + " FOR UPDATE" if lock else _SELECT_ROOM, room_id)
    return _room(row) if row else None


# --- bag --------------------------------------------------------------------------------


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
    """True if the product was in the bag."""
    status = await conn.execute("DELETE FROM bag_items WHERE room_id = $1 AND product_id = $2", room_id, product_id)
    return status != "DELETE 0"


async def fetch_bag_rows(conn: asyncpg.Connection, room_id: str) -> list[asyncpg.Record]:
    """The bag's products in position order, with their SKU snapshots."""
    return await conn.fetch(
        """SELECT b.product_id, b.position, p.title, p.skus
           FROM bag_items b JOIN products p ON p.product_id = b.product_id
           WHERE b.room_id = $1 ORDER BY b.position""",
        room_id,
    )


async def fetch_stock(conn: asyncpg.Connection, product_ids: list[str]) -> dict[str, int]:
    """Newest known available stock per SKU of these products."""
    rows = await conn.fetch(
        "SELECT sku_id, stock_available FROM sku_stock WHERE product_id = ANY($1::uuid[])", product_ids
    )
    return {str(r["sku_id"]): r["stock_available"] for r in rows}


# --- views and counters -----------------------------------------------------------------


async def record_view(conn: asyncpg.Connection, room_id: str, viewer_id: str, joined_at: datetime) -> None:
    """One more view; one more unique viewer only if this viewer never joined before."""
    await conn.execute(
        """WITH view AS (
               INSERT INTO room_views (room_id, viewer_id, joined_at) VALUES ($1, $2, $3)
           ), first_time AS (
               INSERT INTO room_viewers (room_id, viewer_id, first_joined_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING 1
           )
           UPDATE room_stats SET views = views + 1,
                                 unique_viewers = unique_viewers + (SELECT count(*) FROM first_time),
                                 updated_at = $3
           WHERE room_id = $1""",
        room_id,
        viewer_id,
        joined_at,
    )


async def add_room_sale(
    conn: asyncpg.Connection, room_id: str, merchant_id: str, amount_minor: int, currency: str, now: datetime
) -> bool:
    """Count one paid order for a room of `merchant_id`; False if no such room (or another currency)."""
    status = await conn.execute(
        """UPDATE room_stats s
           SET paid_orders = s.paid_orders + 1, paid_amount_minor = s.paid_amount_minor + $3,
               currency = $4, updated_at = $5
           FROM rooms r
           WHERE s.room_id = $1 AND r.room_id = s.room_id AND r.merchant_id = $2
             AND (s.currency IS NULL OR s.currency = $4)""",
        room_id,
        merchant_id,
        amount_minor,
        currency,
        now,
    )
    return status != "UPDATE 0"


async def fetch_stats(conn: asyncpg.Connection, room_id: str) -> RoomStats:
    row = await conn.fetchrow(
        """SELECT room_id, views, unique_viewers, paid_orders, paid_amount_minor, currency
           FROM room_stats WHERE room_id = $1""",
        room_id,
    )
    return RoomStats(
        room_id=str(row["room_id"]),
        views=row["views"],
        unique_viewers=row["unique_viewers"],
        paid_orders=row["paid_orders"],
        paid_amount_minor=row["paid_amount_minor"],
        currency=row["currency"],
    )


# --- catalogue replica ------------------------------------------------------------------


async def upsert_product(conn: asyncpg.Connection, event: ProductPublished | ProductUpdated) -> bool:
    """Keep the product as of this event unless a newer version is already here; True if applied."""
    applied = await conn.fetchval(
        """INSERT INTO products (product_id, merchant_id, title, description, version, skus, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (product_id) DO UPDATE
               SET merchant_id = EXCLUDED.merchant_id, title = EXCLUDED.title,
                   description = EXCLUDED.description, version = EXCLUDED.version,
                   skus = EXCLUDED.skus, updated_at = EXCLUDED.updated_at
               WHERE products.version < EXCLUDED.version
           RETURNING true""",
        event.product_id,
        event.merchant_id,
        event.title,
        event.description,
        event.version,
        event.skus,
        event.occurred_at,
    )
    return bool(applied)


async def upsert_stock(conn: asyncpg.Connection, event: StockChanged) -> None:
    """Record a SKU's available stock as of the event, unless live already has a newer level."""
    # Newest by the producer's wall clock (`occurred_at`): acceptable for now because this is a display
    # replica (the bag's "in stock" hint; shop's reservation decides) and one shop instance orders its
    # writes per SKU by the row lock. Two shop instances with skewed clocks could make an older level win
    # until the SKU's next change. The fix is a per-SKU stock version bumped by shop's UPDATE and carried
    # in StockChanged (a defaulted field), compared here instead of the timestamp.
    await conn.execute(
        """INSERT INTO sku_stock (sku_id, product_id, stock_available, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (sku_id) DO UPDATE
               SET product_id = EXCLUDED.product_id, stock_available = EXCLUDED.stock_available,
                   updated_at = EXCLUDED.updated_at
               WHERE sku_stock.updated_at < EXCLUDED.updated_at""",
        event.sku_id,
        event.product_id,
        event.stock_available,
        event.occurred_at,
    )


async def seed_stock(conn: asyncpg.Connection, event: ProductPublished | ProductUpdated) -> None:
    """Take a product event's stock snapshot for SKUs live has no level for yet.

    Only as a seed: shop builds that snapshot without locking the SKUs, so a reservation committing
    meanwhile may be missing from it, while every StockChanged is ordered per SKU by shop's row lock.
    """
    if not event.skus:
        return
    await conn.execute(
        """INSERT INTO sku_stock (sku_id, product_id, stock_available, updated_at)
           SELECT sku_id, $2, available, $4 FROM unnest($1::uuid[], $3::int[]) AS t(sku_id, available)
           ON CONFLICT (sku_id) DO NOTHING""",
        [sku.sku_id for sku in event.skus],
        event.product_id,
        [sku.stock_available for sku in event.skus],
        event.occurred_at,
    )
