"""Invariant 5, events: every outbox row published, every event a consumer wants applied once by it, no dead letters,
and every durable consumer caught up in JetStream."""

# Every name put into SQL text here is a schema of SERVICES or a constant of the code, never input.
# ruff: noqa: S608

from __future__ import annotations

from collections import defaultdict

import asyncpg
import msgspec
from nats.js.errors import NotFoundError

from devstack.invariants.sources import _connect_nats, _Consumer, _durables, _stream, _subject
from devstack.invariants.verdict import _LIST, _listed, _Report
from libs.bus.nats import DLQ_PREFIX, DLQ_STREAM
from libs.contracts import EVENT_TYPES, FunnelTapped, stream_for

# Published straight to JetStream, never through an outbox: an inbox row of one has no outbox row to match.
DIRECT_SUBJECTS = (FunnelTapped.SUBJECT,)


def _outboxes(schemas: set[str], columns: str) -> str:
    return " UNION ALL ".join(f'SELECT {columns} FROM "{schema}".outbox' for schema in sorted(schemas))


async def _events(conn: asyncpg.Connection, report: _Report, schemas: set[str], consumers: list[_Consumer]) -> None:
    if not schemas:
        return
    for schema in sorted(schemas):
        waiting = await conn.fetch(
            f"""SELECT event_id::text AS event_id, subject, attempts, last_error FROM "{schema}".outbox
                WHERE published_at IS NULL ORDER BY seq"""
        )
        for row in waiting:
            report.fail(
                "events",
                f"{schema} outbox event {row['event_id']} ({row['subject']}) is not published "
                f"({row['attempts']} attempts, last error {row['last_error']!r})",
            )
        dead = await conn.fetch(
            f"""SELECT consumer, event_id, subject, deliveries, error FROM "{schema}".dead_letters ORDER BY id"""
        )
        for row in dead:
            report.fail(
                "events",
                f"{row['consumer']} dead-lettered event {row['event_id']} ({row['subject']}) after "
                f"{row['deliveries']} deliveries: {row['error'][:200]}",
            )
    published = await conn.fetch(
        f"""SELECT subject, count(*) AS n FROM ({_outboxes(schemas, "subject, published_at")}) o
            WHERE published_at IS NOT NULL GROUP BY subject"""
    )
    per_subject = {row["subject"]: row["n"] for row in published}
    for consumer in consumers:
        if consumer.schema not in schemas:
            continue
        sub = consumer.sub
        report.count("events", sum(per_subject.get(subject, 0) for subject in sub.subjects))
        missing = await conn.fetch(
            f"""SELECT o.event_id::text AS event_id, o.subject, o.payload
                FROM ({_outboxes(schemas, "event_id, subject, payload, published_at")}) o
                WHERE o.published_at IS NOT NULL AND o.subject = ANY($1::text[])
                  AND NOT EXISTS (SELECT 1 FROM "{consumer.schema}".inbox i
                                  WHERE i.consumer = $2 AND i.event_id = o.event_id)""",
            list(sub.subjects),
            sub.durable,
        )
        for row in missing:
            if sub.wants is not None:
                try:
                    event = msgspec.json.decode(row["payload"], type=EVENT_TYPES[row["subject"]])
                except (msgspec.DecodeError, KeyError) as exc:
                    report.fail("events", f"event {row['event_id']} ({row['subject']}) cannot be decoded: {exc}")
                    continue
                if not sub.wants(event):
                    continue  # acked without an inbox row: the consumer leaves such events alone
            report.fail("events", f"{sub.durable} never applied event {row['event_id']} ({row['subject']})")
    known: dict[str, dict[str, set[str]]] = defaultdict(dict)
    for consumer in consumers:
        known[consumer.schema][consumer.sub.durable] = set(consumer.sub.subjects)
    for schema in sorted(schemas):
        for row in await conn.fetch(f'SELECT consumer, subject, count(*) AS n FROM "{schema}".inbox GROUP BY 1, 2'):
            if row["subject"] not in known[schema].get(row["consumer"], set()):
                report.fail(
                    "events",
                    f"{schema} inbox has {row['n']} rows of {row['consumer']} for {row['subject']}, "
                    "which it does not subscribe",
                )
        exists = " AND ".join(
            f'NOT EXISTS (SELECT 1 FROM "{other}".outbox o WHERE o.event_id = i.event_id)' for other in sorted(schemas)
        )
        for row in await conn.fetch(
            f"""SELECT consumer, event_id::text AS event_id, subject FROM "{schema}".inbox i
                WHERE i.subject <> ALL ($1::text[]) AND {exists} ORDER BY consumer, event_id""",
            list(DIRECT_SUBJECTS),
        ):
            report.fail(
                "events",
                f"{row['consumer']} applied event {row['event_id']} ({row['subject']}), which no outbox published",
            )


async def _jetstream(
    report: _Report, nats_url: str, namespace: str, schemas: set[str], consumers: list[_Consumer]
) -> None:
    nc = await _connect_nats(nats_url)
    try:
        js = nc.jetstream()
        durables = await _durables(js, namespace)
        for durable, (stream, info) in sorted(durables.items()):
            if info.num_pending or info.num_ack_pending:
                report.fail(
                    "events",
                    f"consumer {durable} on {stream}: {info.num_pending} pending, {info.num_ack_pending} unacked",
                )
        for consumer in consumers:
            if consumer.schema in schemas and consumer.sub.durable not in durables:
                stream = _stream(namespace, stream_for(consumer.sub.subjects[0]))
                report.fail("events", f"consumer {consumer.sub.durable} does not exist on {stream}")
        dlq = _stream(namespace, DLQ_STREAM)
        try:
            state = (await js.stream_info(dlq)).state
        except NotFoundError:
            return
        if state.messages:
            subjects = []
            for seq in range(state.first_seq, min(state.first_seq + _LIST, state.last_seq + 1)):
                try:
                    msg = await js.get_msg(dlq, seq)
                except NotFoundError:
                    continue
                original = (msg.headers or {}).get("Liveloop-Original-Subject", "?")
                subjects.append(f"{msg.subject.removeprefix(_subject(namespace, DLQ_PREFIX) + '.')} <- {original}")
            report.fail("events", f"dead-letter stream {dlq} holds {state.messages} messages: {_listed(subjects)}")
    finally:
        await nc.close()
