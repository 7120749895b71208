"""Durable pull consumers with an idempotent inbox, bounded redelivery and a dead-letter subject.

A subscription either applies one event per transaction (`handler`), or folds many (`batch=Batch(fold, size=500)`):
the runner fetches up to `size` messages, records their inbox rows with one multi-row insert and calls
`fold(conn, deliveries)` with only the fresh ones (each a `Delivery`: subject, event and the producer's trace
context), all in one transaction. `fold` may return an after-commit callable (announcements, metrics), run once after
the commit and before the acks. A batch that fails on the surroundings (`is_transient`) is nak'ed whole with backoff;
one that fails otherwise is retried one message at a time (a batch of one), so a bad event is dead-lettered alone
after `max_deliver` while its batch-mates are applied. One CONSUMER span per batch links to every message's producer
(up to `MAX_LINKS`). `wants` and the per-event counters apply to both kinds. A batch subscription pulls through
`Puller` (one request per batch) rather than nats-py's `fetch`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import msgspec
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from nats.js.errors import BadRequestError, NotFoundError
from opentelemetry import context, trace
from opentelemetry.trace import Link, SpanKind, StatusCode

from libs import faults
from libs.bus.nats import DLQ_PREFIX, Bus, raise_if_cancelled
from libs.contracts import EVENT_TYPES, Event, stream_for
from libs.db import Database, is_transient
from libs.telemetry import context_from, names

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]
Wants = Callable[[Event], bool]
# Most span links a batch's span carries (one per message, to its producer's span).
MAX_LINKS = 128


@dataclass(frozen=True)
class Delivery:
    """One fresh event of a batch: its subject (without namespace), the event, and its producer's trace context."""

    subject: str
    event: Event
    context: context.Context


AfterCommit = Callable[[], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Delivery]], Awaitable[AfterCommit | None]]


@dataclass(frozen=True)
class _Item:
    msg: Msg
    subject: str
    event: Event


@dataclass(frozen=True)
class Batch:
    """A micro-batched subscription's fold (in the batch's transaction) and the most events it takes at once."""

    fold: BatchHandler
    size: int = 500


def narrowest(subjects: list[str]) -> str:
    """The narrowest single filter covering every subject: their common tokens followed by `>`."""
    split = [subject.split(".") for subject in subjects]
    common: list[str] = []
    for tokens in zip(*split, strict=False):
        if len(set(tokens)) != 1:
            break
        common.append(tokens[0])
    return ".".join([*common, ">"])


@dataclass(frozen=True)
class Subscription:
    """A durable consumer `<service>__<purpose>` of some subjects of one stream."""

    durable: str
    subjects: tuple[str, ...]
    # One event per transaction; or none, with `batch` folding many per transaction.
    handler: Handler | None = None
    # Events the handler would leave alone (a pure check on the event): acked without a transaction or an
    # inbox row. E.g. shop and a flash-sale order's OrderCancelled: live, not shop, decides where that unit goes.
    wants: Wants | None = None
    batch: Batch | None = None

    def __post_init__(self) -> None:
        if (self.handler is None) == (self.batch is None):
            raise ValueError(f"{self.durable}: give a handler or a batch, not both or neither")
        if self.batch is not None and self.batch.size < 1:
            raise ValueError(f"{self.durable}: a batch takes at least one event")


class Puller:
    """Batches of one durable, pulled over a plain subscription of our own.

    nats-py's `fetch` awaits each message of a batch through its own `wait_for` (a task per message, ~45 us of a
    core here: most of the bus's cost at thousands of events a second). This asks JetStream for a batch and keeps
    what a callback receives; a request ends when the batch is full or the server says so (404 none, 408 expired).
    Whatever arrives after a fetch returned (a request still open) waits in `buffer` for the next one.
    """

    def __init__(self, bus: Bus, stream: str, durable: str) -> None:
        self.nc = bus.nc
        self.next_subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.inbox = bus.nc.new_inbox()
        self.buffer: list[Msg] = []
        self.want = 0
        self.ended = asyncio.Event()
        self.sub = None

    async def start(self) -> None:
        self.sub = await self.nc.subscribe(self.inbox, cb=self._on_msg)

    async def close(self) -> None:
        if self.sub is not None:
            with contextlib.suppress(Exception):
                await self.sub.unsubscribe()

    async def _on_msg(self, msg: Msg) -> None:
        if JetStreamContext.is_status_msg(msg):
            self.ended.set()
            return
        self.buffer.append(msg)
        if len(self.buffer) >= self.want:
            self.ended.set()

    async def fetch(self, size: int, timeout: float) -> list[Msg]:
        """Up to `size` messages: what JetStream has now, else the first to come within `timeout` (maybe none)."""
        if len(self.buffer) < size:
            await self._request({"batch": size - len(self.buffer), "no_wait": True}, size, 5.0)
        if not self.buffer:
            # Nothing now: wait for the first message; the rest of this request lands in `buffer` as it comes.
            await self._request({"batch": size, "expires": int(timeout * 1e9)}, 1, timeout + 1.0)
        taken, self.buffer = self.buffer[:size], self.buffer[size:]
        return taken

    async def _request(self, body: dict[str, object], want: int, wait_s: float) -> None:
        """Ask for messages; return once `buffer` holds `want`, the server ends the request, or after `wait_s`."""
        self.want = want
        self.ended.clear()
        await self.nc.publish(self.next_subject, json.dumps(body).encode(), reply=self.inbox)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ended.wait(), wait_s)


class ConsumerRunner:
    """Runs a service's subscriptions: inbox row + effect in one transaction, then ack."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        subscriptions: list[Subscription],
        *,
        max_deliver: int = 5,
        ack_wait_s: float = 30.0,
        batch: int = 64,
    ) -> None:
        self.db = db
        self.bus = bus
        self.subscriptions = subscriptions
        self.max_deliver = max_deliver
        self.ack_wait_s = ack_wait_s
        self.batch = batch
        meter = bus.telemetry.meter
        self._processed = meter.create_counter(names.EVENTS_PROCESSED)
        self._dead = meter.create_counter(names.EVENTS_DEAD_LETTERED)
        self._redelivered = meter.create_counter(names.EVENTS_REDELIVERED)
        self._pending = meter.create_gauge(
            names.CONSUMER_PENDING, unit="{message}", description="Messages the durable consumer has not been handed"
        )
        self._ack_pending = meter.create_gauge(
            names.CONSUMER_ACK_PENDING, unit="{message}", description="Messages handed to the consumer, not acked"
        )
        self._labels = {sub.durable: {names.CONSUMER: sub.durable} for sub in subscriptions}
        for labels in self._labels.values():
            # Present at zero from the start, so rate() and alerts see the first one.
            self._dead.add(0, labels)
            self._redelivered.add(0, labels)
        bus.telemetry.probe("consumers", self.observe)

    async def observe(self) -> None:
        """Set each durable's lag gauges from JetStream's consumer info (one request per durable)."""

        async def one(sub: Subscription) -> None:
            stream = self.bus.stream(stream_for(sub.subjects[0]))
            try:
                info = await self.bus.js.consumer_info(stream, sub.durable, timeout=1.0)
            except NotFoundError:  # not created yet: nothing consumed, nothing to report
                return
            self._pending.set(info.num_pending or 0, self._labels[sub.durable])
            self._ack_pending.set(info.num_ack_pending or 0, self._labels[sub.durable])

        await asyncio.gather(*(one(sub) for sub in self.subscriptions))

    async def subscribe(self, sub: Subscription):
        """Create (or bind to) the durable consumer and return its pull subscription."""
        streams = {stream_for(s) for s in sub.subjects}
        if len(streams) != 1:
            raise ValueError(f"{sub.durable}: subjects must belong to one stream, got {streams}")
        stream = self.bus.stream(streams.pop())
        subjects = [self.bus.subject(s) for s in sub.subjects]
        version = self.bus.nc.connected_server_version
        many_filters = (version.major, version.minor) >= (2, 10)
        config = ConsumerConfig(
            durable_name=sub.durable,
            name=sub.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_s,
            # Redelivery is bounded by us (dead-letter after max_deliver), not silently by the server.
            max_deliver=-1,
            # Servers before 2.10 know only one `filter_subject`: there we filter on the narrowest wildcard
            # covering every subject, and `handle` acks whatever else that lets through.
            filter_subject=subjects[0] if len(subjects) == 1 else (None if many_filters else narrowest(subjects)),
            filter_subjects=subjects if len(subjects) > 1 and many_filters else None,
        )
        try:
            # Create or update: a deploy that changes a subscription's subjects reconfigures its durable.
            await self.bus.js.add_consumer(stream, config)
        except BadRequestError as exc:
            # Older servers refuse to change an existing durable; keep consuming with what it has.
            log.warning("consumer %s: keeping its existing configuration: %s", sub.durable, exc)
        return await self.bus.js.pull_subscribe_bind(durable=sub.durable, stream=stream)

    async def run(self) -> None:
        """Consume every subscription until cancelled."""
        async with asyncio.TaskGroup() as group:
            for sub in self.subscriptions:
                group.create_task(self._loop(sub))

    async def _loop(self, sub: Subscription) -> None:
        while True:
            raise_if_cancelled()
            try:
                psub = await self.subscribe(sub)
                break
            except Exception as exc:
                log.warning("consumer %s: cannot subscribe yet: %s", sub.durable, exc)
                await asyncio.sleep(1)
        puller = None
        try:
            if sub.batch is not None:
                puller = Puller(self.bus, self.bus.stream(stream_for(sub.subjects[0])), sub.durable)
                await puller.start()
            while True:
                # Without this a shutdown can hang forever: nats-py's fetch sometimes eats the cancel.
                raise_if_cancelled()
                try:
                    if puller is not None:
                        msgs = await puller.fetch(sub.batch.size, timeout=1)  # type: ignore[union-attr]
                    else:
                        msgs = await psub.fetch(self.batch, timeout=1)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer %s: fetch failed: %s", sub.durable, exc)
                    await asyncio.sleep(0.5)
                    continue
                if sub.batch is not None:
                    try:
                        await self.handle_batch(sub, msgs)
                    except Exception:
                        log.exception("consumer %s: could not ack a batch; its messages will come back", sub.durable)
                    continue
                for msg in msgs:
                    try:
                        await self.handle(sub, msg)
                    except Exception:
                        # E.g. the database is down while dead-lettering: not acked, so redelivered after ack_wait.
                        # Letting it escape would end every consumer of this service until restart.
                        log.exception("consumer %s: could not ack a message; it will come back", sub.durable)
        finally:
            # nats-py's drain never finishes on a pull subscription that fetched (it waits on its internal
            # queue), so Bus.close() would hang for its full timeout; drop the subscription on the way out.
            with contextlib.suppress(Exception):
                await psub.unsubscribe()
            if puller is not None:
                await puller.close()

    async def handle(self, sub: Subscription, msg: Msg) -> None:
        """Apply one message exactly once, then ack; nak with backoff or dead-letter on failure."""
        if self.bus.unsubject(msg.subject) not in sub.subjects:
            # Servers before 2.10 ignore `filter_subjects` and deliver the whole stream: not for us, ack it.
            await msg.ack()
            return
        if msg.metadata.num_delivered > 1:
            self._redelivered.add(1, {names.CONSUMER: sub.durable})
        try:
            if sub.batch is not None:
                await self.apply_batch(sub, [msg])
            else:
                await self.apply(sub, msg)
        except Exception as exc:
            await self._failed(sub, msg, exc)
            return
        if faults.ARMED:
            faults.hit("consumer.applied")
        await msg.ack()

    async def _failed(self, sub: Subscription, msg: Msg, exc: Exception) -> None:
        deliveries = msg.metadata.num_delivered
        if is_transient(exc):
            # The database or network is having a moment: the event is fine, so it never goes to the
            # dead letters for this; it waits (capped backoff) until the effect can be applied.
            await msg.nak(delay=min(0.5 * 2 ** min(deliveries, 6), 30.0))
            return
        if deliveries >= self.max_deliver:
            await self._dead_letter(sub, msg, exc, deliveries)
            await msg.term()
        else:
            await msg.nak(delay=min(0.2 * 2 ** (deliveries - 1), 10.0))

    async def apply(self, sub: Subscription, msg: Msg) -> bool:
        """Record the event in the inbox and run the handler in one transaction; False if a duplicate."""
        subject = self.bus.unsubject(msg.subject)
        token = context.attach(context_from(msg.headers))
        try:
            with self.bus.telemetry.tracer.start_as_current_span(
                f"{subject} process",
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.destination.name": subject,
                    "messaging.consumer.group.name": sub.durable,
                    names.CONSUMER: sub.durable,
                },
            ) as span:
                try:
                    event = msgspec.json.decode(msg.data, type=EVENT_TYPES[subject])
                    span.set_attribute("messaging.message.id", event.event_id)
                    if sub.wants is not None and not sub.wants(event):
                        span.set_attribute(names.SKIPPED, True)
                        self._processed.add(1, {names.CONSUMER: sub.durable, "skipped": True})
                        return False
                    async with self.db.transaction() as conn:
                        fresh = await conn.fetchval(
                            """INSERT INTO inbox (consumer, event_id, subject) VALUES ($1, $2, $3)
                               ON CONFLICT DO NOTHING RETURNING true""",
                            sub.durable,
                            event.event_id,
                            subject,
                        )
                        if fresh:
                            assert sub.handler is not None
                            await sub.handler(conn, event)
                    span.set_attribute(names.DUPLICATE, not fresh)
                    self._processed.add(1, {names.CONSUMER: sub.durable, "duplicate": not fresh})
                    return bool(fresh)
                except Exception as exc:
                    span.record_exception(exc)
                    span.set_status(StatusCode.ERROR, str(exc))
                    log.exception("consumer %s failed on %s", sub.durable, subject)
                    raise
        finally:
            context.detach(token)

    async def handle_batch(self, sub: Subscription, msgs: list[Msg]) -> None:
        """Apply fetched messages in one transaction, then ack them; on failure as the module docstring says."""
        ours: list[_Item] = []
        for msg in msgs:
            subject = self.bus.unsubject(msg.subject)
            if subject not in sub.subjects:
                await msg.ack()  # a server before 2.10 delivering the whole stream
                continue
            if msg.metadata.num_delivered > 1:
                self._redelivered.add(1, {names.CONSUMER: sub.durable})
            try:
                event = msgspec.json.decode(msg.data, type=EVENT_TYPES[subject])
            except Exception:
                # Undecodable: it fails alone (and is dead-lettered in time) without failing its batch-mates.
                await self._alone(sub, msg)
                continue
            ours.append(_Item(msg, subject, event))
        if not ours:
            return
        if len(ours) == 1:
            await self._alone(sub, ours[0].msg)
            return
        try:
            await self._fold(sub, ours)
        except Exception as exc:
            if is_transient(exc):
                for item in ours:
                    await self._failed(sub, item.msg, exc)
                return
            # Something in the batch is wrong, not the surroundings: find it by applying each alone.
            for item in ours:
                await self._alone(sub, item.msg)
            return
        if faults.ARMED:
            faults.hit("consumer.applied")
        for item in ours:
            await item.msg.ack()

    async def _alone(self, sub: Subscription, msg: Msg) -> None:
        try:
            await self.apply_batch(sub, [msg])
        except Exception as exc:
            await self._failed(sub, msg, exc)
            return
        if faults.ARMED:
            faults.hit("consumer.applied")
        await msg.ack()

    async def apply_batch(self, sub: Subscription, msgs: list[Msg]) -> int:
        """Record the messages' inbox rows and fold the fresh events in one transaction; how many were fresh."""
        subjects = [self.bus.unsubject(msg.subject) for msg in msgs]
        try:
            items = [
                _Item(msg, subject, msgspec.json.decode(msg.data, type=EVENT_TYPES[subject]))
                for msg, subject in zip(msgs, subjects, strict=True)
            ]
        except Exception as exc:
            log.warning("consumer %s: undecodable message: %s", sub.durable, exc)
            raise
        return await self._fold(sub, items)

    async def _fold(self, sub: Subscription, items: list[_Item]) -> int:
        assert sub.batch is not None
        contexts = [context_from(item.msg.headers) for item in items]
        links = [
            Link(span_context)
            for ctx in contexts[:MAX_LINKS]
            if (span_context := trace.get_current_span(ctx).get_span_context()).is_valid
        ]
        kinds = {item.subject for item in items}
        first = items[0].subject
        attributes: dict[str, str | int] = {
            "messaging.system": "nats",
            "messaging.consumer.group.name": sub.durable,
            "messaging.batch.message_count": len(items),
            names.CONSUMER: sub.durable,
        }
        if len(kinds) == 1:
            attributes["messaging.destination.name"] = first
        # A batch of one continues its producer's trace, as a single event does; a larger batch starts its own.
        parent = contexts[0] if len(items) == 1 else context.Context()
        with self.bus.telemetry.tracer.start_as_current_span(
            f"{first} process" if len(kinds) == 1 else f"{sub.durable} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes=attributes,
        ) as span:
            try:
                wanted: list[Delivery] = []
                skipped = 0
                for item, ctx in zip(items, contexts, strict=True):
                    if sub.wants is not None and not sub.wants(item.event):
                        skipped += 1
                    else:
                        wanted.append(Delivery(item.subject, item.event, ctx))
                after: AfterCommit | None = None
                fresh: list[Delivery] = []
                if wanted:
                    ids = [uuid.UUID(d.event.event_id) for d in wanted]
                    async with self.db.transaction() as conn:
                        rows = await conn.fetch(
                            """INSERT INTO inbox (consumer, event_id, subject)
                               SELECT $1, e.event_id, e.subject
                               FROM unnest($2::uuid[], $3::text[]) AS e(event_id, subject)
                               ON CONFLICT DO NOTHING RETURNING event_id""",
                            sub.durable,
                            ids,
                            [d.subject for d in wanted],
                        )
                        inserted = {row["event_id"] for row in rows}
                        for event_id, delivery in zip(ids, wanted, strict=True):
                            if event_id in inserted:
                                inserted.discard(event_id)  # the same event twice in one batch is fresh once
                                fresh.append(delivery)
                        if fresh:
                            after = await sub.batch.fold(conn, fresh)
                if after is not None:
                    try:
                        await after()
                    except Exception:
                        # Committed: a redelivery would be a duplicate and never run it again, so log and go on.
                        log.exception("consumer %s: after-commit step failed", sub.durable)
                if len(wanted) == 1:
                    span.set_attribute(names.DUPLICATE, not fresh)
                if len(items) == 1 and skipped:
                    span.set_attribute(names.SKIPPED, True)
                labels = {names.CONSUMER: sub.durable}
                if skipped:
                    self._processed.add(skipped, labels | {"skipped": True})
                if fresh:
                    self._processed.add(len(fresh), labels | {"duplicate": False})
                if len(wanted) > len(fresh):
                    self._processed.add(len(wanted) - len(fresh), labels | {"duplicate": True})
                return len(fresh)
            except Exception as exc:
                span.record_exception(exc)
                span.set_status(StatusCode.ERROR, str(exc))
                log.exception("consumer %s failed on a batch of %d", sub.durable, len(items))
                raise

    async def _dead_letter(self, sub: Subscription, msg: Msg, exc: Exception, deliveries: int) -> None:
        subject = self.bus.unsubject(msg.subject)
        error = f"{type(exc).__name__}: {exc}"[:2000]
        event_id = (msg.headers or {}).get("Nats-Msg-Id")
        await self.db.execute(
            """INSERT INTO dead_letters (consumer, event_id, subject, payload, error, deliveries)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            sub.durable,
            event_id,
            subject,
            msg.data,
            error,
            deliveries,
        )
        headers = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"}
        try:
            await self.bus.js.publish(
                self.bus.subject(f"{DLQ_PREFIX}.{sub.durable}"),
                msg.data,
                headers=headers | {"Liveloop-Original-Subject": subject, "Liveloop-Error": error[:200]},
            )
        except Exception:
            log.exception("could not publish dead letter for %s", sub.durable)
        self._dead.add(1, {names.CONSUMER: sub.durable})
        log.error("consumer %s dead-lettered %s after %d deliveries: %s", sub.durable, subject, deliveries, error)
