"""Reading orders: a buyer's own, or a merchant's own; anyone else's is not found."""

from __future__ import annotations

from libs.errors import NotFound
from libs.ids import is_uuid
from libs.runtime import Runtime
from services.orders import domain, store
from services.orders.views import OrderPage, OrderView


async def order_of(
    runtime: Runtime, *, order_id: str, buyer_id: str | None = None, merchant_id: str | None = None
) -> OrderView:
    """One order, if the buyer placed it or the merchant sells it; 404 otherwise."""
    if not _scoped(buyer_id, merchant_id) or not is_uuid(order_id):
        raise NotFound("no such order")
    found = await store.order_views(
        runtime.db,
        order_id=order_id,
        buyer_id=buyer_id,
        merchant_id=merchant_id,
        limit=1,
        now=runtime.clock.now(),
    )
    if not found:
        raise NotFound("no such order")
    return found[0]


async def orders_page(
    runtime: Runtime,
    *,
    buyer_id: str | None = None,
    merchant_id: str | None = None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> OrderPage:
    """A page of the caller's orders, newest first."""
    if not _scoped(buyer_id, merchant_id):
        return OrderPage(items=[])
    if status is not None:
        domain.ensure_order_status(status)
    before = domain.decode_cursor(cursor) if cursor else None
    found = await store.order_views(
        runtime.db,
        buyer_id=buyer_id,
        merchant_id=merchant_id,
        status=status,
        before=before,
        limit=limit + 1,
        now=runtime.clock.now(),
    )
    items = found[:limit]
    more = len(found) > limit
    next_cursor = domain.encode_cursor(items[-1].created_at, items[-1].order_id) if more and items else None
    return OrderPage(items=items, next_cursor=next_cursor)


def _scoped(buyer_id: str | None, merchant_id: str | None) -> bool:
    """A read names whose orders it wants; a merchant id that is no UUID owns nothing."""
    if merchant_id is not None:
        return is_uuid(merchant_id)
    return buyer_id is not None
