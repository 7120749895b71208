"""Product search: what buyers find in the catalogue by title, price and stock state."""

from __future__ import annotations

from libs.runtime import Runtime
from services.shop.domain import search as rules
from services.shop.store import search as store
from services.shop.views import ProductSearchPage


async def search_products(
    runtime: Runtime,
    *,
    q: str | None,
    min_price_minor: int | None,
    max_price_minor: int | None,
    in_stock: bool | None,
    merchant_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> ProductSearchPage:
    """Published products whose title matches q (best match first) or, without q, newest first; a page of them."""
    query = rules.product_query(q, min_price_minor, max_price_minor, in_stock, merchant_id)
    after = rules.after(cursor, query) if cursor else None
    async with runtime.db.transaction() as conn:
        items = await store.search(conn, query, limit=limit + 1, after=after)
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if more else None
    next_cursor = (
        rules.next_cursor(query, score=last.score, created_at=last.created_at, product_id=last.product_id)
        if last
        else None
    )
    return ProductSearchPage(items=items, next_cursor=next_cursor)
