"""SQL of funnel ingest: facts, rollups, uniques, touches and kept order-line attributions, each written with one
multi-row statement per batch; and what attribution reads (rooms and their sessions, touches, kept lines)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import asyncpg
import msgspec

from libs.ids import canonical_uuid
from services.live.funnel.domain.attribution import Attribution, Line, RoomAt, Touch, VideoAt, Windows
from services.live.funnel.domain.facts import Fact, Folded
from services.live.videos.store.videos import video_ref

LineKey = tuple[str, int]


async def rooms_at(
    conn: asyncpg.Connection, wanted: Iterable[tuple[str, datetime]]
) -> dict[tuple[str, datetime], RoomAt]:
    """Each known room with its host, merchant and session at that moment (the latest started by then)."""
    pairs = sorted({(room_id, at) for room_id, at in wanted if canonical_uuid(room_id)})
    if not pairs:
        return {}
    rows = await conn.fetch(
        """SELECT q.i, r.room_id::text AS room_id, r.host_id, r.merchant_id::text AS merchant_id,
                  s.session_id::text AS session_id
           FROM unnest($1::uuid[], $2::timestamptz[]) WITH ORDINALITY AS q(room_id, at, i)
           JOIN rooms r ON r.room_id = q.room_id
           LEFT JOIN LATERAL (
               SELECT session_id FROM room_sessions s
               WHERE s.room_id = q.room_id AND s.started_at <= q.at
               ORDER BY s.started_at DESC LIMIT 1) s ON true""",
        [room_id for room_id, _ in pairs],
        [at for _, at in pairs],
    )
    return {
        pairs[row["i"] - 1]: RoomAt(
            room_id=row["room_id"],
            host_id=row["host_id"],
            merchant_id=row["merchant_id"],
            session_id=row["session_id"],
        )
        for row in rows
    }


async def videos(conn: asyncpg.Connection, video_ids: Iterable[str]) -> dict[str, VideoAt]:
    """Each known video (deleted ones too: what was bought from it stays its) with its host and merchant."""
    found = {}
    for video_id in sorted(set(video_ids)):
        ref = await video_ref(conn, video_id)
        if ref is not None:
            found[video_id] = VideoAt(video_id=ref.video_id, host_id=ref.host_id, merchant_id=ref.merchant_id)
    return found


def _attribution(row: asyncpg.Record) -> Attribution:
    return Attribution(
        source_type=row["source_type"],
        room_id=row["room_id"],
        session_id=row["session_id"],
        video_id=row["video_id"],
        sale_id=row["sale_id"],
        host_id=row["host_id"],
    )


async def kept_lines(conn: asyncpg.Connection, keys: Iterable[LineKey]) -> dict[LineKey, tuple[Attribution, str]]:
    """The attribution (and buyer) kept for each of these order lines the funnel has seen."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = await conn.fetch(
        """SELECT l.* FROM funnel_order_lines l
           JOIN unnest($1::text[], $2::int[]) AS q(order_id, line_no) USING (order_id, line_no)""",
        [k[0] for k in wanted],
        [k[1] for k in wanted],
    )
    return {(row["order_id"], row["line_no"]): (_attribution(row), row["buyer_id"]) for row in rows}


async def last_touches(conn: asyncpg.Connection, lines: list[Line], windows: Windows) -> dict[LineKey, list[Touch]]:
    """Per line, its buyer's last room touch and last video touch of its item, each within its window before it."""
    lines = [line for line in lines if line.item_id]
    if not lines:
        return {}
    rows = await conn.fetch(
        """SELECT q.i, t.source_type, t.source_id, t.at, t.session_id, t.host_id
           FROM unnest($1::text[], $2::text[], $3::timestamptz[]) WITH ORDINALITY AS q(person_id, item_id, at, i)
           CROSS JOIN LATERAL (
               (SELECT * FROM funnel_touches t
                WHERE t.person_id = q.person_id AND t.item_id = q.item_id AND t.source_type = 'room'
                  AND t.at <= q.at AND t.at >= q.at - $4::interval
                ORDER BY t.at DESC LIMIT 1)
               UNION ALL
               (SELECT * FROM funnel_touches t
                WHERE t.person_id = q.person_id AND t.item_id = q.item_id AND t.source_type = 'video'
                  AND t.at <= q.at AND t.at >= q.at - $5::interval
                ORDER BY t.at DESC LIMIT 1)
           ) t""",
        [line.buyer_id for line in lines],
        [line.item_id for line in lines],
        [line.at for line in lines],
        timedelta(seconds=windows.room_s),
        timedelta(seconds=windows.video_s),
    )
    found: dict[LineKey, list[Touch]] = {}
    for row in rows:
        line = lines[row["i"] - 1]
        found.setdefault((line.order_id, line.line_no), []).append(
            Touch(
                source_type=row["source_type"],
                source_id=row["source_id"],
                at=row["at"],
                session_id=row["session_id"],
                host_id=row["host_id"],
            )
        )
    return found


async def keep_lines(
    conn: asyncpg.Connection, chosen: list[tuple[Line, Attribution]]
) -> dict[LineKey, tuple[Attribution, str]]:
    """Keep each line's attribution unless one was kept first (then that one is returned): first sight fixes it."""
    rows_in = sorted({(line.order_id, line.line_no): (line, a) for line, a in chosen}.items())
    if not rows_in:
        return {}
    lines = [line for _, (line, _) in rows_in]
    picks = [a for _, (_, a) in rows_in]
    rows = await conn.fetch(
        """INSERT INTO funnel_order_lines AS l (order_id, line_no, source_type, room_id, session_id, video_id, sale_id,
                                                host_id, merchant_id, buyer_id, product_id, deal_id, attributed_at)
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::timestamptz[])
           -- A no-op update, so the row kept first (another instance's batch) is returned as it is.
           ON CONFLICT (order_id, line_no) DO UPDATE SET order_id = l.order_id
           RETURNING l.*""",
        [line.order_id for line in lines],
        [line.line_no for line in lines],
        [a.source_type for a in picks],
        [a.room_id for a in picks],
        [a.session_id for a in picks],
        [a.video_id for a in picks],
        [a.sale_id for a in picks],
        [a.host_id for a in picks],
        [line.merchant_id for line in lines],
        [line.buyer_id for line in lines],
        [line.product_id for line in lines],
        [line.deal_id for line in lines],
        [line.at for line in lines],
    )
    return {(row["order_id"], row["line_no"]): (_attribution(row), row["buyer_id"]) for row in rows}


async def insert_facts(conn: asyncpg.Connection, facts: list[Fact]) -> set[str]:
    """Insert the facts not recorded yet; the keys of those that were new."""
    if not facts:
        return set()
    facts = sorted({f.fact_key: f for f in reversed(facts)}.values(), key=lambda f: f.fact_key)
    # One JSON parameter, not an array per column: asyncpg checks every element of an array parameter in Python,
    # which cost more than the insert itself; Postgres parses the JSON in C.
    rows = await conn.fetch(
        """INSERT INTO funnel_facts (fact_key, step, at, source_type, room_id, session_id, video_id, sale_id, host_id,
                                     merchant_id, person_id, product_id, deal_id, order_id, quantity, amount_minor,
                                     currency, watch_s, trace_id)
           SELECT fact_key, step, at, source_type, room_id, session_id, video_id, sale_id, host_id, merchant_id,
                  person_id, product_id, deal_id, order_id, quantity, amount_minor, currency, watch_s, trace_id
           FROM json_populate_recordset(NULL::funnel_facts, $1::json)
           ON CONFLICT (fact_key) DO NOTHING
           RETURNING fact_key""",
        _ENCODER.encode(facts).decode(),
    )
    return {row["fact_key"] for row in rows}


async def add_folded(conn: asyncpg.Connection, folded: Folded) -> None:
    """Add new facts' rollups (each row once), uniques and touches; rows in key order, so batches never deadlock."""
    if folded.minutes:
        await conn.execute(
            """INSERT INTO funnel_minutes AS m (scope, scope_id, step, minute, currency, n, quantity, amount_minor,
                                                watch_s)
               SELECT scope, scope_id, step, minute, currency, n, quantity, amount_minor, watch_s
               FROM json_populate_recordset(NULL::funnel_minutes, $1::json)
               ON CONFLICT (scope, scope_id, step, minute, currency) DO UPDATE
               SET n = m.n + EXCLUDED.n, quantity = m.quantity + EXCLUDED.quantity,
                   amount_minor = m.amount_minor + EXCLUDED.amount_minor, watch_s = m.watch_s + EXCLUDED.watch_s""",
            _ENCODER.encode(folded.minutes).decode(),
        )
    if folded.uniques:
        await conn.execute(
            """INSERT INTO funnel_uniques (scope, scope_id, kind, person_id, first_at)
               SELECT scope, scope_id, kind, person_id, first_at
               FROM json_populate_recordset(NULL::funnel_uniques, $1::json)
               ON CONFLICT DO NOTHING""",
            _ENCODER.encode(folded.uniques).decode(),
        )
    if folded.touches:
        await conn.execute(
            """INSERT INTO funnel_touches (person_id, item_id, at, source_type, source_id, session_id, host_id,
                                           fact_key)
               SELECT person_id, item_id, at, source_type, source_id, session_id, host_id, fact_key
               FROM json_populate_recordset(NULL::funnel_touches, $1::json)
               ON CONFLICT (fact_key) DO NOTHING""",
            _ENCODER.encode(folded.touches).decode(),
        )


_ENCODER = msgspec.json.Encoder()
