"""Durable pull consumers with an idempotent inbox, bounded redelivery and a dead-letter subject."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import msgspec
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import BadRequestError, NotFoundError
from opentelemetry import context
from opentelemetry.trace import SpanKind, StatusCode

from libs.bus.nats import DLQ_PREFIX, Bus, raise_if_cancelled
from libs.contracts import EVENT_TYPES, Event, stream_for
from libs.db import Database
from libs.telemetry import context_from, names

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Event], Awaitable[None]]
Wants = Callable[[Event], bool]


_TRANSIENT = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,  # connection closed under us
    asyncpg.exceptions.PostgresConnectionError,  # class 08
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, out of memory
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutdown, cannot connect now
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.SerializationError,
)


def is_transient(exc: BaseException) -> bool:
    """True for failures of the surroundings (database, network), not of the event or the handler's logic."""
    return isinstance(exc, _TRANSIENT)


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
    handler: Handler
    # Events the handler would leave alone (a pure check on the event): acked without a transaction or an
    # inbox row. E.g. shop and a flash-sale order's OrderCancelled: live, not shop, decides where that unit goes.
    wants: Wants | None = None


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
        try:
            while True:
                # Without this a shutdown can hang forever: nats-py's fetch sometimes eats the cancel.
                raise_if_cancelled()
                try:
                    msgs = await psub.fetch(self.batch, timeout=1)
                except (TimeoutError, NatsTimeoutError):
                    continue
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("consumer %s: fetch failed: %s", sub.durable, exc)
                    await asyncio.sleep(0.5)
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

    async def handle(self, sub: Subscription, msg: Msg) -> None:
        """Apply one message exactly once, then ack; nak with backoff or dead-letter on failure."""
        if self.bus.unsubject(msg.subject) not in sub.subjects:
            # Servers before 2.10 ignore `filter_subjects` and deliver the whole stream: not for us, ack it.
            await msg.ack()
            return
        if msg.metadata.num_delivered > 1:
            self._redelivered.add(1, {names.CONSUMER: sub.durable})
        try:
            await self.apply(sub, msg)
        except Exception as exc:
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
            return
        await msg.ack()

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
