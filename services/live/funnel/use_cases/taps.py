"""Client taps (impressions, clicks, plays, anchor clicks): checked against live's rooms and videos, filled in, and
published as one FunnelTapped straight to JetStream."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import nats.errors
from opentelemetry.trace import SpanKind, StatusCode

from libs.auth import Principal
from libs.contracts import FunnelTapped
from libs.runtime import Runtime
from libs.telemetry import capture_headers
from services.live.funnel.domain import taps as domain
from services.live.funnel.domain.taps import TapAsked, TapsNotAccepted
from services.live.funnel.store import taps as store


async def report_taps(runtime: Runtime, viewer: Principal, asked: Sequence[TapAsked]) -> int:
    """Publish what the viewer's client saw and tapped; how many facts that is (repeats in the batch collapse)."""
    now = runtime.clock.now()
    async with runtime.db.transaction() as conn:
        rooms = await store.rooms_now(conn, domain.room_ids(asked))
        videos = await store.videos_now(conn, domain.video_ids(asked))
    facts = domain.taps(viewer.sub, asked, now, rooms, videos)
    await _publish(runtime, FunnelTapped(event_id=domain.batch_id(facts), taps=facts, occurred_at=now))
    return len(facts)


async def _publish(runtime: Runtime, event: FunnelTapped) -> None:
    # Not through the outbox: nothing of live's changes with a tap, and at a client's tap rate an outbox row per
    # batch would double the writes for nothing. The client holds the batch until this answers; it re-sends an
    # unanswered one, and JetStream drops the copy by its Nats-Msg-Id (the batch's hash, within its duplicate window)
    # as the funnel drops a later one by fact key.
    with runtime.telemetry.tracer.start_as_current_span(
        f"{event.SUBJECT} publish",
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "nats",
            "messaging.destination.name": event.SUBJECT,
            "messaging.message.id": event.event_id,
        },
    ) as span:
        try:
            # Headers describe the publish span (and carry the request's baggage), so consumers continue from it.
            await runtime.bus.publish_event(
                event.SUBJECT, msgspec.json.encode(event), capture_headers(), event.event_id
            )
        except (ConnectionError, TimeoutError, nats.errors.Error) as exc:
            span.set_status(StatusCode.ERROR, type(exc).__name__)
            raise TapsNotAccepted() from exc
