"""Funnel ingest: a batch of events folded in the consumer's transaction (facts, attribution, rollups, uniques,
touches); after the commit, `liveloop.funnel.step` counted per new fact in its producer's trace context, and the
scopes whose figures changed announced on core NATS (`live.funnel.changed`)."""

from __future__ import annotations

import logging

import asyncpg
import msgspec
from opentelemetry import context, trace
from opentelemetry.metrics import Counter

from libs.bus import AfterCommit, Delivery
from libs.runtime import Runtime
from libs.telemetry import names
from services.live.funnel.domain import attribution, facts
from services.live.funnel.domain.attribution import Attribution, Line
from services.live.funnel.domain.changes import CHANGED_SUBJECT, FunnelChanged
from services.live.funnel.store import ingest as ingest_store

log = logging.getLogger(__name__)
_COUNTER = "funnel.step_counter"
_KNOWN = "funnel.known_uniques"
# Unique people this process saw committed: their rows exist for good (insert-only), so a batch need not write them
# again. Most views and clicks are of people already counted in the scope; this spares the database most rows.
KNOWN_UNIQUES_CAP = 200_000


def step_counter(runtime: Runtime) -> Counter:
    """The `liveloop.funnel.step` counter of this service instance (created once)."""
    counter = runtime.extras.get(_COUNTER)
    if counter is None:
        counter = runtime.telemetry.meter.create_counter(
            names.FUNNEL_STEP, unit="{fact}", description="Funnel facts recorded, by step and source type"
        )
        runtime.extras[_COUNTER] = counter
    return counter


def _trace_id(ctx: context.Context) -> str | None:
    span_context = trace.get_current_span(ctx).get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


async def fold(runtime: Runtime, conn: asyncpg.Connection, deliveries: list[Delivery]) -> AfterCommit | None:
    """Record the facts of fresh events once each and fold the new ones; what to do after the commit."""
    drafts: list[tuple[facts.Draft, context.Context]] = [
        (draft, d.context) for d in deliveries for draft in facts.drafts_of(d.event, _trace_id(d.context))
    ]
    if not drafts:
        return None
    settings = runtime.settings
    windows = attribution.Windows(room_s=settings.funnel_room_window_s, video_s=settings.funnel_video_window_s)

    lines = [d.line for d, _ in drafts if d.line is not None]
    kept = await ingest_store.kept_lines(conn, [(line.order_id, line.line_no) for line in lines])
    # First sight of a line (placed, or paid first) fixes its attribution; the first draft in the batch names it.
    first_seen: dict[tuple[str, int], Line] = {}
    for d, _ in drafts:
        if d.line is not None and d.keeps:
            first_seen.setdefault((d.line.order_id, d.line.line_no), d.line)
    # Every draft's own view of an unkept line (a paid and a refund of one line in a batch name different times).
    unkept = [line for line in lines if (line.order_id, line.line_no) not in kept]
    rooms = await ingest_store.rooms_at(
        conn,
        [(d.room_id, d.fact.at) for d, _ in drafts if d.room_id]
        + [(line.room_id, line.at) for line in unkept if line.room_id],
    )
    videos = await ingest_store.videos(
        conn, [d.video_id for d, _ in drafts if d.video_id] + [line.video_id for line in unkept if line.video_id]
    )

    def own(line: Line) -> Attribution | None:
        room = rooms.get((line.room_id, line.at)) if line.room_id else None
        video = videos.get(line.video_id) if line.video_id else None
        return attribution.own_source(line, room, video)

    new_lines = [line for key, line in first_seen.items() if key not in kept]
    touches = await ingest_store.last_touches(conn, [line for line in new_lines if own(line) is None], windows)
    chosen = [
        (
            line,
            attribution.choose(
                line,
                rooms.get((line.room_id, line.at)) if line.room_id else None,
                videos.get(line.video_id) if line.video_id else None,
                touches.get((line.order_id, line.line_no), []),
                windows,
            ),
        )
        for line in new_lines
    ]
    kept |= await ingest_store.keep_lines(conn, chosen)

    completed: list[tuple[facts.Fact, context.Context]] = []
    for d, ctx in drafts:
        a: Attribution | None = None
        buyer: str | None = None
        if d.line is not None:
            known = kept.get((d.line.order_id, d.line.line_no))
            if known is not None:
                a, buyer = known
            else:
                # A refund, expiry or redemption of a line the funnel never saw placed: its own source only.
                a = own(d.line)
        completed.append((facts.complete(d, rooms, videos, a, buyer), ctx))

    inserted = await ingest_store.insert_facts(conn, [fact for fact, _ in completed])
    new: list[tuple[facts.Fact, context.Context]] = []
    for fact, ctx in completed:
        if fact.fact_key in inserted:
            inserted.discard(fact.fact_key)  # the same fact twice in one batch counts once
            new.append((fact, ctx))
    if not new:
        return None
    folded = facts.fold(fact for fact, _ in new)
    known = _known_uniques(runtime)
    fresh = [u for u in folded.uniques if (u.scope, u.scope_id, u.kind, u.person_id) not in known]
    await ingest_store.add_folded(conn, msgspec.structs.replace(folded, uniques=fresh))
    return _after_commit(runtime, new, folded.changed, fresh)


def _known_uniques(runtime: Runtime) -> set[tuple[str, str, str, str]]:
    known = runtime.extras.get(_KNOWN)
    if known is None:
        known = runtime.extras[_KNOWN] = set()
    return known


def _after_commit(
    runtime: Runtime,
    new: list[tuple[facts.Fact, context.Context]],
    changed: FunnelChanged,
    uniques: list[facts.UniqueRow],
) -> AfterCommit:
    # One add per (step, source type, trace) rather than per fact: the totals are the same, the exemplar of each
    # point still names a trace its facts came from, and a batch of 500 untraced or same-trace facts costs a few adds
    # instead of 500 (an add with its exemplar is ~70 us: at 10k facts/s that was most of a core).
    groups: dict[tuple[str, str, str | None], tuple[int, context.Context]] = {}
    for fact, ctx in new:
        key = (fact.step, fact.source_type or "none", fact.trace_id)
        n, _ = groups.get(key, (0, ctx))
        groups[key] = (n + 1, ctx)

    async def after() -> None:
        known = _known_uniques(runtime)
        if len(known) > KNOWN_UNIQUES_CAP:
            known.clear()  # a cheap bound: the rows are still there, a batch or two writes some again
        known.update((u.scope, u.scope_id, u.kind, u.person_id) for u in uniques)
        counter = step_counter(runtime)
        for (step, source_type, _), (n, ctx) in groups.items():
            counter.add(n, {names.FUNNEL_STEP_NAME: step, names.FUNNEL_SOURCE_TYPE: source_type}, context=ctx)
        if changed != FunnelChanged():
            bus = runtime.bus
            await bus.nc.publish(bus.subject(CHANGED_SUBJECT), msgspec.json.encode(changed))

    return after
