"""Cart use cases: a buyer's own lines, priced from the catalogue, attributed to where they came from."""

from __future__ import annotations

from libs.ids import is_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names, tag
from services.shop.domain.refusals import CartItemNotFound, SkuNotFound
from services.shop.store import cart as store
from services.shop.views import CartLineView, CartView


async def lines(runtime: Runtime, buyer_id: str) -> CartView:
    """The buyer's cart."""
    return CartView(items=await store.lines(runtime.db.pool, buyer_id))


async def put(
    runtime: Runtime, buyer_id: str, sku_id: str, quantity: int, source: tuple[str, str] | None
) -> tuple[bool, CartLineView]:
    """Set how many of a SKU the buyer wants; (True, line) when the line is new."""
    now = runtime.clock.now()
    room_id = source[1] if source and source[0] == "room" else None
    tag({names.ROOM_ID: room_id})
    # The room rides on as baggage, so whatever this request causes downstream is attributed to it.
    with baggage_set(**{names.ROOM_ID: room_id}):
        created = None
        if is_uuid(sku_id):
            async with runtime.db.transaction() as conn:
                created = await store.put(conn, buyer_id, sku_id, quantity, source, now)
        if created is None:
            raise SkuNotFound(f"no SKU {sku_id} for sale", field="sku_id")
        line = (await store.lines(runtime.db.pool, buyer_id, sku_id))[0]
    return created, line


async def remove(runtime: Runtime, buyer_id: str, sku_id: str) -> None:
    """Drop a line from the buyer's cart (404 if it is not there)."""
    if not is_uuid(sku_id) or not await store.remove(runtime.db.pool, buyer_id, [sku_id]):
        raise CartItemNotFound(f"SKU {sku_id} is not in your cart", field="sku_id")
