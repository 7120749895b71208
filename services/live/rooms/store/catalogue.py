"""SQL for live's replica of shop's catalogue: products and available stock per SKU."""

from __future__ import annotations

import asyncpg

from libs.contracts import ProductPublished, ProductUpdated, StockChanged


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
