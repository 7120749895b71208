"""HTTP API of client taps: a viewer's client reports impressions, clicks, video plays and anchor clicks in batches."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, post

from libs.runtime import Runtime
from libs.web.guards import principal_of, requires
from libs.web.openapi import documented
from libs.web.throttle import Limits, throttled
from services.live.funnel.domain.taps import MAX_EVENTS, TapAsked, TapRefused, TapsNotAccepted
from services.live.funnel.use_cases import taps
from services.live.funnel.views import TapsAccepted

# Per-caller token bucket of batches: a client sends one every few seconds; a script replaying taps sheds here.
TAPS = Limits("funnel_taps", lambda settings: (settings.funnel_tap_rate_per_s, settings.funnel_tap_burst))


class TapBatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    events: Annotated[list[TapAsked], msgspec.Meta(min_length=1, max_length=MAX_EVENTS)]


@post(
    "/funnel/events",
    guards=[requires("buyer"), throttled(TAPS)],
    tags=["funnel"],
    status_code=202,
    opt=documented(TapRefused, TapsNotAccepted),
)
async def report_events(request: Request, data: TapBatch, runtime: Runtime) -> TapsAccepted:
    """Report what the viewer saw and tapped (≤ 100 events); all are checked first, one at fault refuses the batch
    (422 naming `events[i]`); re-sending a batch is harmless."""
    return TapsAccepted(accepted=await taps.report_taps(runtime, principal_of(request), data.events))


ROUTES = [report_events]
