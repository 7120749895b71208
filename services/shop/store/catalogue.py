"""SQL for merchants, products, SKUs and their change history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.shop.domain.catalogue import SkuEdit
from services.shop.domain.stock import SkuFacts, StockLevel
from services.shop.views import MerchantView, ProductView, ShortfallView, SkuChangeView, SkuView

# Reads run on the pool or inside a caller's transaction alike.
Conn = asyncpg.Connection | asyncpg.Pool


def _merchant(row: asyncpg.Record) -> MerchantView:
    return MerchantView(
        merchant_id=str(row["merchant_id"]), name=row["name"], currency=row["currency"], created_at=row["created_at"]
    )


def _sku(row: asyncpg.Record) -> SkuView:
    return SkuView(
        sku_id=str(row["sku_id"]),
        name=row["name"],
        price_minor=row["price_minor"],
        currency=row["currency"],
        stock_on_hand=row["stock_on_hand"],
        stock_reserved=row["stock_reserved"],
        stock_available=row["stock_on_hand"] - row["stock_reserved"],
    )


def _product(row: asyncpg.Record, skus: list[SkuView]) -> ProductView:
    return ProductView(
        product_id=str(row["product_id"]),
        merchant_id=str(row["merchant_id"]),
        title=row["title"],
        description=row["description"],
        status=row["status"],
        version=row["version"],
        skus=skus,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def level(row: asyncpg.Record) -> StockLevel:
    """Stock counts from a row holding sku_id, product_id, merchant_id, stock_on_hand, stock_reserved."""
    return StockLevel(
        sku_id=str(row["sku_id"]),
        product_id=str(row["product_id"]),
        merchant_id=str(row["merchant_id"]),
        stock_on_hand=row["stock_on_hand"],
        stock_reserved=row["stock_reserved"],
    )


async def insert_merchant(conn: Conn, merchant_id: str, name: str, currency: str, now: datetime) -> MerchantView:
    row = await conn.fetchrow(
        """INSERT INTO merchants (merchant_id, name, currency, created_at) VALUES ($1, $2, $3, $4)
           RETURNING merchant_id, name, currency, created_at""",
        merchant_id,
        name,
        currency,
        now,
    )
    return _merchant(row)


async def merchant(conn: Conn, merchant_id: str) -> MerchantView | None:
    row = await conn.fetchrow(
        "SELECT merchant_id, name, currency, created_at FROM merchants WHERE merchant_id = $1", merchant_id
    )
    return _merchant(row) if row else None


async def insert_product(
    conn: Conn,
    *,
    product_id: str,
    merchant_id: str,
    title: str,
    description: str,
    skus: Sequence[tuple[str, str, int, str, int]],
    now: datetime,
) -> None:
    """A product and its SKUs `(sku_id, name, price_minor, currency, stock)`, published at once."""
    await conn.execute(
        """INSERT INTO products (product_id, merchant_id, title, description, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $5)""",
        product_id,
        merchant_id,
        title,
        description,
        now,
    )
    await conn.executemany(
        """INSERT INTO skus (sku_id, product_id, merchant_id, position, name, price_minor, currency, stock_on_hand)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [
            (sku_id, product_id, merchant_id, i, name, price, currency, stock)
            for i, (sku_id, name, price, currency, stock) in enumerate(skus)
        ],
    )


async def _with_skus(conn: Conn, rows: Sequence[asyncpg.Record]) -> list[ProductView]:
    if not rows:
        return []
    sku_rows = await conn.fetch(
        """SELECT sku_id, product_id, name, price_minor, currency, stock_on_hand, stock_reserved
             FROM skus WHERE product_id = ANY($1::uuid[]) ORDER BY product_id, position""",
        [r["product_id"] for r in rows],
    )
    by_product: dict[str, list[SkuView]] = {}
    for s in sku_rows:
        by_product.setdefault(str(s["product_id"]), []).append(_sku(s))
    return [_product(r, by_product.get(str(r["product_id"]), [])) for r in rows]


async def product(conn: Conn, product_id: str, *, merchant_id: str | None = None) -> ProductView | None:
    """One product; with `merchant_id`, only if that merchant owns it."""
    row = await conn.fetchrow(
        """SELECT product_id, merchant_id, title, description, status, version, created_at, updated_at
             FROM products WHERE product_id = $1 AND ($2::uuid IS NULL OR merchant_id = $2)""",
        product_id,
        merchant_id,
    )
    found = await _with_skus(conn, [row] if row else [])
    return found[0] if found else None


async def products_of(conn: Conn, merchant_id: str, *, limit: int, offset: int) -> list[ProductView]:
    """A merchant's products, newest first."""
    rows = await conn.fetch(
        """SELECT product_id, merchant_id, title, description, status, version, created_at, updated_at
             FROM products WHERE merchant_id = $1
            ORDER BY created_at DESC, product_id LIMIT $2 OFFSET $3""",
        merchant_id,
        limit,
        offset,
    )
    return await _with_skus(conn, rows)


async def lock_product(conn: asyncpg.Connection, product_id: str, merchant_id: str) -> asyncpg.Record | None:
    """A merchant's product row, locked until the transaction ends; None if not theirs."""
    return await conn.fetchrow(
        "SELECT title, description FROM products WHERE product_id = $1 AND merchant_id = $2 FOR UPDATE",
        product_id,
        merchant_id,
    )


async def update_product_text(
    conn: asyncpg.Connection, product_id: str, title: str, description: str, now: datetime
) -> None:
    """Set title and description and bump the version."""
    await conn.execute(
        """UPDATE products SET title = $2, description = $3, version = version + 1, updated_at = $4
            WHERE product_id = $1""",
        product_id,
        title,
        description,
        now,
    )


async def lock_sku(conn: asyncpg.Connection, sku_id: str, merchant_id: str) -> asyncpg.Record | None:
    """A merchant's SKU, locked until the transaction ends.

    Edits read-then-write under this lock (the history needs the old values); in-flight reservations
    of the SKU simply wait, and the CHECK constraints still guard the counts.
    """
    return await conn.fetchrow(
        """SELECT sku_id, product_id, merchant_id, name, price_minor, currency, stock_on_hand, stock_reserved
             FROM skus WHERE sku_id = $1 AND merchant_id = $2 FOR UPDATE""",
        sku_id,
        merchant_id,
    )


async def apply_sku_edits(
    conn: asyncpg.Connection, sku_id: str, product_id: str, edits: Sequence[SkuEdit], *, by: str, now: datetime
) -> StockLevel:
    """Write the edits, record them in the SKU's history and bump the product's version."""
    values = {e.field: e.new_value for e in edits}
    row = await conn.fetchrow(
        """UPDATE skus SET price_minor = COALESCE($2, price_minor), stock_on_hand = COALESCE($3, stock_on_hand)
           WHERE sku_id = $1
           RETURNING sku_id, product_id, merchant_id, stock_on_hand, stock_reserved""",
        sku_id,
        values.get("price_minor"),
        values.get("stock_on_hand"),
    )
    await conn.executemany(
        """INSERT INTO sku_changes (sku_id, field, old_value, new_value, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [(sku_id, e.field, e.old_value, e.new_value, by, now) for e in edits],
    )
    await conn.execute(
        "UPDATE products SET version = version + 1, updated_at = $2 WHERE product_id = $1", product_id, now
    )
    return level(row)


async def sku_changes(conn: Conn, sku_id: str, merchant_id: str) -> list[SkuChangeView] | None:
    """A merchant's SKU's edit history, oldest first; None if not that merchant's SKU."""
    owned = await conn.fetchval("SELECT true FROM skus WHERE sku_id = $1 AND merchant_id = $2", sku_id, merchant_id)
    if not owned:
        return None
    rows = await conn.fetch(
        """SELECT field, old_value, new_value, changed_by, changed_at, reason, ref
             FROM sku_changes WHERE sku_id = $1 ORDER BY id""",
        sku_id,
    )
    return [SkuChangeView(**dict(r)) for r in rows]


async def sku_facts(conn: Conn, sku_ids: Sequence[str]) -> dict[str, SkuFacts]:
    """Name, seller and price of each of `sku_ids` that exists."""
    rows = await conn.fetch(
        """SELECT s.sku_id, s.product_id, s.merchant_id, p.title, s.name, s.price_minor, s.currency,
                  p.status = 'published' AS published
             FROM skus s JOIN products p ON p.product_id = s.product_id
            WHERE s.sku_id = ANY($1::uuid[])""",
        list(sku_ids),
    )
    return {
        str(r["sku_id"]): SkuFacts(
            sku_id=str(r["sku_id"]),
            product_id=str(r["product_id"]),
            merchant_id=str(r["merchant_id"]),
            title=r["title"],
            sku_name=r["name"],
            price_minor=r["price_minor"],
            currency=r["currency"],
            published=r["published"],
        )
        for r in rows
    }


async def shortfalls(conn: Conn, merchant_id: str) -> list[ShortfallView]:
    """A merchant's oversold units, newest first."""
    rows = await conn.fetch(
        """SELECT order_id, checkout_id, sku_id, quantity, created_at FROM stock_shortfalls
            WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 500""",
        merchant_id,
    )
    return [
        ShortfallView(
            order_id=r["order_id"],
            checkout_id=r["checkout_id"],
            sku_id=str(r["sku_id"]),
            quantity=r["quantity"],
            created_at=r["created_at"],
        )
        for r in rows
    ]
