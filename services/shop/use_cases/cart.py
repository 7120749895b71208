"""Cart use cases: a buyer's own lines, priced from the catalogue, attributed to where they came from.

A line naming a live room is checked with live first (the room exists and sells for the SKU's merchant); if live
does not answer in time the line keeps its room unverified (checkout asks again; live's room sales apply the same
rule when the order is paid). A cart holds at most `max_cart_lines` lines.
"""

from __future__ import annotations

import logging

import msgspec

from libs.bus import RequestFailed
from libs.contracts import (
    SOURCE_NOT_SELLING,
    SOURCE_OK,
    SOURCE_UNKNOWN_ROOM,
    VERIFY_ROOM_SOURCES,
    RoomSource,
    VerifyRoomSources,
    VerifyRoomSourcesReply,
)
from libs.ids import canonical_uuid, is_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names, tag
from services.shop.domain.refusals import CartItemNotFound, CartLinesCap, RoomNotSelling, SkuNotFound, UnknownRoom
from services.shop.store import cart as store
from services.shop.store import catalogue as catalogue_store
from services.shop.views import CartLineView, CartView

log = logging.getLogger(__name__)

# How long a cart add waits for live's verdict on the room it names before keeping the room unverified.
VERIFY_SOURCE_TIMEOUT_S = 1.0


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
            verified = room_id is not None and await _verify_room(runtime, room_id, sku_id)
            async with runtime.db.transaction() as conn:
                # One addition per buyer at a time: the count after the insert is exact, so the cap holds.
                await store.lock_cart(conn, buyer_id)
                created = await store.put(conn, buyer_id, sku_id, quantity, source, now, source_verified=verified)
                limit = runtime.settings.max_cart_lines
                if created and await store.line_count(conn, buyer_id) > limit:
                    raise CartLinesCap(limit)  # rolls the new line back
        if created is None:
            raise SkuNotFound(f"no SKU {sku_id} for sale", field="sku_id")
        line = (await store.lines(runtime.db.pool, buyer_id, sku_id))[0]
    return created, line


async def _verify_room(runtime: Runtime, room_id: str, sku_id: str) -> bool:
    """Refuse a room that does not exist or sells for another merchant than the SKU's (one request to live).

    True when live vouched for it; False when live did not answer in time (the line keeps the room, unverified).
    """
    facts = (await catalogue_store.sku_facts(runtime.db.pool, [sku_id])).get(canonical_uuid(sku_id) or "")
    if facts is None or not facts.published:
        return False  # not for sale: the put below says so
    request = VerifyRoomSources(
        sources=[RoomSource(room_id=room_id, merchant_id=facts.merchant_id, product_id=facts.product_id)]
    )
    try:
        reply = await runtime.bus.request(
            VERIFY_ROOM_SOURCES, request, VerifyRoomSourcesReply, timeout=VERIFY_SOURCE_TIMEOUT_S
        )
    except (RequestFailed, msgspec.DecodeError) as exc:
        log.warning("cart line of SKU %s: room left unverified (%s)", sku_id, exc)
        return False
    verdict = reply.verdicts[0] if reply.verdicts else None
    if verdict == SOURCE_UNKNOWN_ROOM:
        raise UnknownRoom(room_id)
    if verdict == SOURCE_NOT_SELLING:
        raise RoomNotSelling(room_id)
    return verdict == SOURCE_OK


async def remove(runtime: Runtime, buyer_id: str, sku_id: str) -> None:
    """Drop a line from the buyer's cart (404 if it is not there)."""
    if not is_uuid(sku_id) or not await store.remove(runtime.db.pool, buyer_id, [sku_id]):
        raise CartItemNotFound(f"SKU {sku_id} is not in your cart", field="sku_id")
