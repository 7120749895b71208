"""Trace context and room baggage ride from the writer's transaction through NATS into the consumer."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import msgspec
import pytest
from opentelemetry import baggage, trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from libs.bus import ConsumerRunner, Relay, RequestFailed, Subscription, add_events
from libs.contracts import Event, StockChanged
from libs.telemetry import baggage_set, names
from tests.harness import eventually
from tests.integration.libs.support import Env

SUBJECT = StockChanged.SUBJECT


def finished(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


class Ping(msgspec.Struct, frozen=True, kw_only=True):
    text: str


class Pong(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    room_id: str | None


async def test_trace_and_room_baggage_run_from_writer_through_relay_into_consumer(env: Env) -> None:
    room_id = f"room-{uuid.uuid4().hex[:8]}"
    event = StockChanged(
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        merchant_id=str(uuid.uuid4()),
        stock_on_hand=3,
        stock_reserved=1,
        stock_available=2,
    )
    seen: dict[str, object] = {}

    async def handler(conn: asyncpg.Connection, received: Event) -> None:
        seen["room"] = baggage.get_baggage(names.ROOM_ID)
        seen["trace_id"] = trace.get_current_span().get_span_context().trace_id

    with (
        env.telemetry.tracer.start_as_current_span("buyer taps buy") as writer,
        baggage_set(**{names.ROOM_ID: room_id}),
    ):
        async with env.db.transaction() as conn:
            await add_events(conn, event)
    trace_id = writer.get_span_context().trace_id

    relay = Relay(env.db, env.bus, interval_s=0.05)
    runner = ConsumerRunner(env.db, env.bus, [Subscription(f"test__trace_{uuid.uuid4().hex[:8]}", (SUBJECT,), handler)])
    tasks = [asyncio.create_task(relay.run()), asyncio.create_task(runner.run())]
    try:
        await eventually(lambda: finished(env.spans, f"{SUBJECT} process"), timeout=10)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    [publish] = finished(env.spans, f"{SUBJECT} publish")
    [process] = finished(env.spans, f"{SUBJECT} process")
    assert publish.kind == SpanKind.PRODUCER
    assert publish.context.trace_id == trace_id
    assert publish.parent is not None
    assert publish.parent.span_id == writer.get_span_context().span_id
    assert publish.attributes["messaging.message.id"] == event.event_id
    assert process.kind == SpanKind.CONSUMER
    assert process.context.trace_id == trace_id
    assert process.parent is not None
    assert process.parent.span_id == publish.context.span_id
    assert publish.attributes[names.ROOM_ID] == room_id
    assert process.attributes[names.ROOM_ID] == room_id
    assert seen == {"room": room_id, "trace_id": trace_id}


async def test_request_and_reply_share_one_trace_and_carry_baggage(env: Env) -> None:
    subject = f"rpc.test.ping_{uuid.uuid4().hex[:6]}.v1"

    async def answer(request: Ping) -> Pong:
        return Pong(text=request.text.upper(), room_id=baggage.get_baggage(names.ROOM_ID))

    await env.bus.serve(subject, Ping, answer, queue="test")
    with env.telemetry.tracer.start_as_current_span("viewer asks") as root, baggage_set(**{names.ROOM_ID: "room-42"}):
        reply = await env.bus.request(subject, Ping(text="hi"), Pong, timeout=5)

    assert reply == Pong(text="HI", room_id="room-42")
    [publish] = finished(env.spans, f"{subject} publish")
    process = await eventually(lambda: finished(env.spans, f"{subject} process"), timeout=5)
    trace_id = root.get_span_context().trace_id
    assert publish.context.trace_id == trace_id
    assert publish.parent is not None
    assert publish.parent.span_id == root.get_span_context().span_id
    assert process[0].context.trace_id == trace_id
    assert process[0].parent is not None
    assert process[0].parent.span_id == publish.context.span_id
    assert process[0].attributes[names.ROOM_ID] == "room-42"


async def test_request_whose_handler_fails_is_refused_at_once_not_after_the_timeout(env: Env) -> None:
    subject = f"rpc.test.broken_{uuid.uuid4().hex[:6]}.v1"

    async def broken(request: Ping) -> Pong:
        raise RuntimeError("database on fire")

    await env.bus.serve(subject, Ping, broken, queue="test")
    started = asyncio.get_running_loop().time()
    with pytest.raises(RequestFailed, match="RuntimeError"):
        await env.bus.request(subject, Ping(text="hi"), Pong, timeout=10)
    assert asyncio.get_running_loop().time() - started < 5
