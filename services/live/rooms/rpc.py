"""The rooms' responder: verify the rooms that checkouts and cart lines name as their source (queue group `live`)."""

from __future__ import annotations

from libs.bus import Responder
from libs.contracts import VERIFY_ROOM_SOURCES, VerifyRoomSources, VerifyRoomSourcesReply
from libs.runtime import Runtime
from services.live.rooms.use_cases import sources


def responders(runtime: Runtime) -> list[Responder]:
    """Answer orders' and shop's questions about room sources; a failure answers at once (the asker records the
    source as unverified rather than wait)."""

    async def verify(request: VerifyRoomSources) -> VerifyRoomSourcesReply:
        return await sources.verify_sources(runtime, request)

    return [Responder(VERIFY_ROOM_SOURCES, VerifyRoomSources, verify, queue="live")]
