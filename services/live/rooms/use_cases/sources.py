"""Is a room a true source of a sale? Orders (checkout) and shop (cart) ask before they record a line's room."""

from __future__ import annotations

from libs.contracts import VerifyRoomSources, VerifyRoomSourcesReply
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.live.rooms import domain, store


async def verify_sources(runtime: Runtime, request: VerifyRoomSources) -> VerifyRoomSourcesReply:
    """One verdict per source, in order: the room exists and sells for the product's merchant (one query for all)."""
    room_ids = {canonical_uuid(source.room_id) for source in request.sources} - {None}
    async with runtime.db.transaction() as conn:
        merchants = await store.rooms.merchants_of_rooms(conn, sorted(room_ids)) if room_ids else {}
    return VerifyRoomSourcesReply(
        verdicts=[
            domain.source_verdict(merchants.get(canonical_uuid(source.room_id) or ""), source.merchant_id)
            for source in request.sources
        ]
    )
