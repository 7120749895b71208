"""SQL for product search: published products by title (pg_trgm), price range and stock state."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.shop.domain.search import ProductQuery
from services.shop.views import FoundProduct

# One row per product from its SKUs: the price range, whether any is in stock, whether any is priced in the range
# asked for ($3, $4; either may be null).
_SKUS = """CROSS JOIN LATERAL (
        SELECT min(s.price_minor) AS min_price_minor, max(s.price_minor) AS max_price_minor,
               bool_or(s.stock_on_hand - s.stock_reserved > 0) AS in_stock,
               bool_or(s.price_minor >= coalesce($3::bigint, s.price_minor)
                       AND s.price_minor <= coalesce($4::bigint, s.price_minor)) AS priced_in
        FROM skus s WHERE s.product_id = p.product_id
    ) k
    JOIN merchants m ON m.merchant_id = p.merchant_id"""

_FILTERS = "k.priced_in AND ($5::bool IS NULL OR k.in_stock = $5::bool)"


def _of_merchant(param: str) -> str:
    """Only the products of the merchant in query parameter `param` (a uuid; null: every merchant's)."""
    return f"({param}::uuid IS NULL OR p.merchant_id = {param}::uuid)"


_COLUMNS = """p.product_id, p.title, p.merchant_id, m.name AS merchant_name, m.currency, p.created_at,
    k.min_price_minor, k.max_price_minor, k.in_stock"""


def _found(row: asyncpg.Record) -> FoundProduct:
    return FoundProduct(
        product_id=str(row["product_id"]),
        title=row["title"],
        merchant_id=str(row["merchant_id"]),
        merchant_name=row["merchant_name"],
        currency=row["currency"],
        min_price_minor=row["min_price_minor"],
        max_price_minor=row["max_price_minor"],
        in_stock=row["in_stock"],
        created_at=row["created_at"],
        score=row["score"],
    )


async def search(
    conn: asyncpg.Connection, query: ProductQuery, *, limit: int, after: tuple[float | datetime, str] | None
) -> list[FoundProduct]:
    """Published products matching the query: best match first with q (trigram word similarity, a substring for a
    short q), newest first without; then by product id.

    A title match goes through the GIN trigram index on products.title (`<%` and ILIKE are among its operators),
    browsing through the index of published products by creation time.
    """
    if query.q is None:
        rows = await conn.fetch(
            f"""SELECT {_COLUMNS}, NULL::float8 AS score
                FROM products p {_SKUS}
                WHERE p.status = 'published' AND {_FILTERS} AND {_of_merchant("$7")}
                  AND ($1::timestamptz IS NULL OR (p.created_at, p.product_id) < ($1::timestamptz, $2::uuid))
                ORDER BY p.created_at DESC, p.product_id DESC
                LIMIT $6""",  # noqa: S608
            after[0] if after else None,
            after[1] if after else None,
            query.min_price_minor,
            query.max_price_minor,
            query.in_stock,
            limit,
            query.merchant_id,
        )
        return [_found(row) for row in rows]
    if query.fuzzy:
        # Typos still match ("hoodei" finds "Hoodie"); the default 0.6 misses too many of them.
        await conn.execute("SELECT set_config('pg_trgm.word_similarity_threshold', '0.4', true)")
    match = "($7 <% p.title OR p.title ILIKE $8)" if query.fuzzy else "p.title ILIKE $8"
    rows = await conn.fetch(
        f"""WITH found AS (
                SELECT p.product_id, (word_similarity($7, p.title) + similarity($7, p.title))::float8 AS score
                FROM products p WHERE p.status = 'published' AND {match} AND {_of_merchant("$9")}
            )
            SELECT {_COLUMNS}, found.score
            FROM found JOIN products p ON p.product_id = found.product_id {_SKUS}
            WHERE {_FILTERS}
              AND ($1::float8 IS NULL OR found.score < $1::float8
                   OR (found.score = $1::float8 AND found.product_id > $2::uuid))
            ORDER BY found.score DESC, found.product_id
            LIMIT $6""",  # noqa: S608
        after[0] if after else None,
        after[1] if after else None,
        query.min_price_minor,
        query.max_price_minor,
        query.in_stock,
        limit,
        query.q,
        query.pattern,
        query.merchant_id,
    )
    return [_found(row) for row in rows]
