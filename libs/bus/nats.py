"""Connection, namespaced subjects and streams, request/reply with trace propagation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import nats
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError
from opentelemetry import context
from opentelemetry.trace import SpanKind, StatusCode

from libs.contracts import STREAMS
from libs.telemetry import Telemetry, capture_headers, context_from

log = logging.getLogger(__name__)
Req = TypeVar("Req", bound=msgspec.Struct)
Rep = TypeVar("Rep", bound=msgspec.Struct)

DLQ_STREAM = "DLQ"
# Set on a reply whose handler failed, so the caller fails fast instead of waiting out its timeout.
ERROR_HEADER = "Liveloop-Error"
DLQ_PREFIX = "dlq"


class RequestFailed(Exception):
    """A request/reply call got no answer in time (or nobody serves the subject)."""


@dataclass(frozen=True)
class Responder:
    """A request/reply server: answers `request_type` on `subject`; instances in queue group `queue` share the load."""

    subject: str
    request_type: type[msgspec.Struct]
    handler: Callable[[Any], Awaitable[msgspec.Struct]]
    queue: str


class Bus:
    """One service's NATS connection; every subject and stream name carries the namespace."""

    def __init__(self, nc: NatsClient, namespace: str, telemetry: Telemetry, *, replicas: int = 1) -> None:
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        self.namespace = namespace
        self.telemetry = telemetry
        self.replicas = replicas
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    async def connect(cls, url: str, namespace: str, telemetry: Telemetry, *, name: str = "", replicas: int = 1) -> Bus:
        """Connect (`url` may list a cluster's nodes, comma-separated), reconnecting forever: the outbox holds
        events while NATS is away. `replicas` is the replica count of the streams this bus creates."""

        async def _on_error(exc: Exception) -> None:
            log.warning("nats error: %s", exc)

        nc = await nats.connect(
            [server.strip() for server in url.split(",") if server.strip()],
            name=name or "liveloop",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=3,
            error_cb=_on_error,
        )
        return cls(nc, namespace, telemetry, replicas=replicas)

    def subject(self, subject: str) -> str:
        """The wire subject for a contract subject."""
        return f"{self.namespace}.{subject}" if self.namespace else subject

    def unsubject(self, wire_subject: str) -> str:
        """The contract subject for a wire subject."""
        prefix = f"{self.namespace}." if self.namespace else ""
        return wire_subject[len(prefix) :] if prefix and wire_subject.startswith(prefix) else wire_subject

    def stream(self, name: str) -> str:
        return f"{self.namespace}_{name}" if self.namespace else name

    async def ensure_streams(self) -> None:
        """Create (or update) every service's stream and the dead-letter stream; idempotent."""
        wanted = dict(STREAMS) | {DLQ_STREAM: f"{DLQ_PREFIX}.>"}
        for name, pattern in wanted.items():
            config = StreamConfig(
                name=self.stream(name),
                subjects=[self.subject(pattern)],
                storage=StorageType.FILE,
                num_replicas=self.replicas,
                duplicate_window=120.0,
            )
            try:
                await self.js.add_stream(config)
            except BadRequestError:
                await self.js.update_stream(config)

    async def ping(self) -> bool:
        """True when connected and JetStream answers."""
        if not self.nc.is_connected:
            return False
        try:
            await asyncio.wait_for(self.js.account_info(), 2)
        except Exception:
            return False
        return True

    async def request(
        self, subject: str, payload: msgspec.Struct, reply_type: type[Rep], *, timeout: float = 5.0
    ) -> Rep:
        """Ask whoever serves `subject` and wait for the answer; the trace goes along."""
        tracer = self.telemetry.tracer
        with tracer.start_as_current_span(
            f"{subject} publish",
            kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "nats", "messaging.destination.name": subject},
        ) as span:
            try:
                msg = await self.nc.request(
                    self.subject(subject), msgspec.json.encode(payload), timeout=timeout, headers=capture_headers()
                )
            except (TimeoutError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as exc:
                span.set_status(StatusCode.ERROR, type(exc).__name__)
                raise RequestFailed(f"no answer on {subject}") from exc
            if msg.headers and ERROR_HEADER in msg.headers:
                span.set_status(StatusCode.ERROR, msg.headers[ERROR_HEADER])
                raise RequestFailed(f"{subject} failed on the serving side: {msg.headers[ERROR_HEADER]}")
            return msgspec.json.decode(msg.data, type=reply_type)

    async def serve(
        self, subject: str, request_type: type[Req], handler: Callable[[Req], Awaitable[msgspec.Struct]], *, queue: str
    ) -> None:
        """Answer requests on `subject`; instances in one queue group share the load."""
        tracer = self.telemetry.tracer

        async def answer(msg: Msg) -> None:
            token = context.attach(context_from(msg.headers))
            try:
                with tracer.start_as_current_span(
                    f"{subject} process",
                    kind=SpanKind.CONSUMER,
                    attributes={"messaging.system": "nats", "messaging.destination.name": subject},
                ) as span:
                    try:
                        request = msgspec.json.decode(msg.data, type=request_type)
                        reply = await handler(request)
                    except Exception as exc:  # the caller must hear something, not time out
                        span.record_exception(exc)
                        span.set_status(StatusCode.ERROR, str(exc))
                        log.exception("request handler for %s failed", subject)
                        if msg.reply:
                            await self.nc.publish(msg.reply, b"", headers={ERROR_HEADER: type(exc).__name__})
                        return
                    await msg.respond(msgspec.json.encode(reply))
            finally:
                context.detach(token)

        async def dispatch(msg: Msg) -> None:
            # nats-py runs one callback at a time per subscription: answer concurrently.
            task = asyncio.create_task(answer(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        await self.nc.subscribe(self.subject(subject), queue=queue, cb=dispatch)

    async def publish_event(self, subject: str, payload: bytes, headers: dict[str, str], msg_id: str) -> None:
        """Publish one stored event to JetStream, deduplicated by its id."""
        if not self.nc.is_connected:
            # nats-py would buffer it and wait out the whole timeout; fail now so the outbox row records why.
            raise ConnectionError("nats is not connected")
        await self.js.publish(self.subject(subject), payload, timeout=5.0, headers=headers | {"Nats-Msg-Id": msg_id})

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if not self.nc.is_closed:
            try:
                await asyncio.wait_for(self.nc.drain(), 5)
            except Exception:
                # Mid-reconnect both drain and close can raise; shutdown must go on (and close the database).
                with contextlib.suppress(Exception):
                    await self.nc.close()


def raise_if_cancelled() -> None:
    """Re-raise a cancel that got swallowed below us (3.11's wait_for drops one that races its result)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
