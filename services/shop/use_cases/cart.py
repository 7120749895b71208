"""Cart use cases: a buyer's own lines, priced from the catalogue, attributed to where they came from.

A line naming a live room or a short video is checked with live first (the room exists and sells for the SKU's
merchant; the video is there and anchors the SKU's product); if live does not answer in time the line keeps its
source unverified (checkout asks again; live's room sales apply the same rule when the order is paid). A cart holds at
most `max_cart_lines` lines. Every put that adds units announces `CartItemAdded` (the funnel's `cart` step) through
the outbox, in the transaction that wrote the line.
"""

from __future__ import annotations

import logging
from datetime import datetime

import msgspec

from libs.bus import RequestFailed, add_events
from libs.contracts import (
    SOURCE_NOT_ANCHORED,
    SOURCE_NOT_SELLING,
    SOURCE_OK,
    SOURCE_UNKNOWN_ROOM,
    SOURCE_UNKNOWN_VIDEO,
    VERIFY_ROOM_SOURCES,
    VERIFY_VIDEO_SOURCES,
    CartItemAdded,
    RoomSource,
    VerifyRoomSources,
    VerifyRoomSourcesReply,
    VerifyVideoSources,
    VerifyVideoSourcesReply,
    VideoSource,
)
from libs.ids import canonical_uuid, is_uuid
from libs.runtime import Runtime
from libs.telemetry import baggage_set, names, tag
from services.shop.domain.refusals import (
    CartItemNotFound,
    CartLinesCap,
    RoomNotSelling,
    SkuNotFound,
    UnknownRoom,
    UnknownVideo,
    VideoNotAnchoring,
)
from services.shop.domain.stock import SkuFacts
from services.shop.store import cart as store
from services.shop.store import catalogue as catalogue_store
from services.shop.views import CartLineView, CartView

log = logging.getLogger(__name__)

# How long a cart add waits for live's verdict on the room or video it names before keeping it unverified.
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
    video_id = source[1] if source and source[0] == "video" else None
    tag({names.ROOM_ID: room_id, names.VIDEO_ID: video_id})
    # The room or video rides on as baggage, so whatever this request causes downstream is attributed to it.
    with baggage_set(**{names.ROOM_ID: room_id, names.VIDEO_ID: video_id}):
        created = None
        if is_uuid(sku_id):
            facts = (await catalogue_store.sku_facts(runtime.db.pool, [sku_id])).get(canonical_uuid(sku_id) or "")
            verified = source is not None and facts is not None and await _verify_source(runtime, source, facts)
            async with runtime.db.transaction() as conn:
                # One addition per buyer at a time: the count after the insert is exact, so the cap holds, and the
                # quantity read before the put is the one it changes.
                await store.lock_cart(conn, buyer_id)
                before = await store.quantity_of(conn, buyer_id, sku_id)
                created = await store.put(conn, buyer_id, sku_id, quantity, source, now, source_verified=verified)
                limit = runtime.settings.max_cart_lines
                if created and await store.line_count(conn, buyer_id) > limit:
                    raise CartLinesCap(limit)  # rolls the new line back
                if created is not None and facts is not None and quantity > before:
                    line = (await store.lines(conn, buyer_id, sku_id))[0]
                    await add_events(conn, _item_added(buyer_id, facts, line, quantity - before, now))
        if created is None:
            raise SkuNotFound(f"no SKU {sku_id} for sale", field="sku_id")
        line = (await store.lines(runtime.db.pool, buyer_id, sku_id))[0]
    return created, line


def _item_added(buyer_id: str, facts: SkuFacts, line: CartLineView, units: int, added_at: datetime) -> CartItemAdded:
    """The funnel's `cart` step: `units` more of the SKU at `added_at` (one fact per put), with the line's source as
    it stands after the put."""
    return CartItemAdded(
        # As the contract says; the funnel's fact is `cart:<this>`.
        fact_key=f"{buyer_id}:{line.sku_id}:{added_at.isoformat()}",
        buyer_id=buyer_id,
        sku_id=line.sku_id,
        product_id=line.product_id,
        merchant_id=facts.merchant_id,
        quantity=units,
        unit_price_minor=line.unit_price_minor,
        currency=line.currency,
        source_type=line.source.type if line.source else None,
        source_id=line.source.id if line.source else None,
        source_verified=bool(line.source and line.source.verified),
        added_at=added_at,
    )


async def _verify_source(runtime: Runtime, source: tuple[str, str], facts: SkuFacts) -> bool:
    """Refuse a room that does not exist or sells for another merchant than the SKU's, or a video that is not there
    or does not anchor the SKU's product (one request to live).

    True when live vouched for it; False when live did not answer in time (the line keeps the source, unverified),
    for a SKU not for sale (the put says so) and for a search source (nobody checks those).
    """
    kind, source_id = source
    if not facts.published or kind not in ("room", "video"):
        return False
    if kind == "room":
        subject, request, reply_type = (
            VERIFY_ROOM_SOURCES,
            VerifyRoomSources(
                sources=[RoomSource(room_id=source_id, merchant_id=facts.merchant_id, product_id=facts.product_id)]
            ),
            VerifyRoomSourcesReply,
        )
    else:
        subject, request, reply_type = (
            VERIFY_VIDEO_SOURCES,
            VerifyVideoSources(
                sources=[VideoSource(video_id=source_id, merchant_id=facts.merchant_id, product_id=facts.product_id)]
            ),
            VerifyVideoSourcesReply,
        )
    try:
        reply = await runtime.bus.request(subject, request, reply_type, timeout=VERIFY_SOURCE_TIMEOUT_S)
    except (RequestFailed, msgspec.DecodeError) as exc:
        log.warning("cart line of SKU %s: %s left unverified (%s)", facts.sku_id, kind, exc)
        return False
    verdict = reply.verdicts[0] if reply.verdicts else None
    if verdict == SOURCE_UNKNOWN_ROOM:
        raise UnknownRoom(source_id)
    if verdict == SOURCE_NOT_SELLING:
        raise RoomNotSelling(source_id)
    if verdict == SOURCE_UNKNOWN_VIDEO:
        raise UnknownVideo(source_id)
    if verdict == SOURCE_NOT_ANCHORED:
        raise VideoNotAnchoring(source_id)
    return verdict == SOURCE_OK


async def remove(runtime: Runtime, buyer_id: str, sku_id: str) -> None:
    """Drop a line from the buyer's cart (404 if it is not there)."""
    if not is_uuid(sku_id) or not await store.remove(runtime.db.pool, buyer_id, [sku_id]):
        raise CartItemNotFound(f"SKU {sku_id} is not in your cart", field="sku_id")
