"""Cart use cases: a buyer's own lines, priced from the catalogue, attributed to where they came from."""

from __future__ import annotations

from datetime import datetime

from libs.db import Database
from libs.ids import is_uuid
from libs.telemetry import baggage_set, names
from libs.web.problems import Problem
from services.shop.store import cart as store
from services.shop.tracing import tag
from services.shop.views import CartLineView


async def lines(db: Database, buyer_id: str) -> list[CartLineView]:
    """The buyer's cart."""
    tag({names.BUYER_ID: buyer_id})
    return await store.lines(db.pool, buyer_id)


async def put(
    db: Database, now: datetime, buyer_id: str, sku_id: str, quantity: int, source: tuple[str, str] | None
) -> tuple[bool, CartLineView]:
    """Set how many of a SKU the buyer wants; (True, line) when the line is new."""
    tag({names.BUYER_ID: buyer_id, names.SKU_ID: sku_id})
    room_id = source[1] if source and source[0] == "room" else None
    if room_id:
        tag({names.ROOM_ID: room_id})
    # The room rides on as baggage, so whatever this request causes downstream is attributed to it.
    with baggage_set(**{names.ROOM_ID: room_id}):
        created = None
        if is_uuid(sku_id):
            async with db.transaction() as conn:
                created = await store.put(conn, buyer_id, sku_id, quantity, source, now)
        if created is None:
            raise Problem(404, "sku-not-found", f"no SKU {sku_id} for sale", field="sku_id")
        line = (await store.lines(db.pool, buyer_id, sku_id))[0]
    return created, line


async def remove(db: Database, buyer_id: str, sku_id: str) -> None:
    """Drop a line from the buyer's cart (404 if it is not there)."""
    tag({names.BUYER_ID: buyer_id, names.SKU_ID: sku_id})
    if not is_uuid(sku_id) or not await store.remove(db.pool, buyer_id, [sku_id]):
        raise Problem(404, "cart-item-not-found", f"SKU {sku_id} is not in your cart", field="sku_id")
