"""The videos' responder: verify the videos that cart lines and checkout items name as their source (queue group
`live`)."""

from __future__ import annotations

from libs.bus import Responder
from libs.contracts import VERIFY_VIDEO_SOURCES, VerifyVideoSources, VerifyVideoSourcesReply
from libs.runtime import Runtime
from services.live.videos.use_cases import videos


def responders(runtime: Runtime) -> list[Responder]:
    """Answer shop's and orders' questions about video sources (a failure answers at once: the asker keeps the
    source unverified rather than wait)."""

    async def verify(request: VerifyVideoSources) -> VerifyVideoSourcesReply:
        return await videos.verify_sources(runtime, request)

    return [Responder(VERIFY_VIDEO_SOURCES, VerifyVideoSources, verify, queue="live")]
