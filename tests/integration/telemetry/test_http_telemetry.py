"""What a service's HTTP telemetry shows someone reading its traces and logs: spans named by route template, log
lines that lead to their trace, and nothing lost when the service stops."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from litestar import get
from opentelemetry import baggage
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from devstack.embedded import free_port
from libs.settings import Settings
from libs.telemetry import Telemetry, add_exporter, names
from libs.web.app import ServiceSpec, build_app
from tests.harness import Infra, ServedApp, eventually

log = logging.getLogger("tests.telemetry.things")


@get("/things/{thing_id:str}", sync_to_thread=False)
def thing(thing_id: str) -> dict[str, str]:
    log.warning("looking at thing %s", thing_id)
    return {"thing_id": thing_id, "room": baggage.get_baggage(names.ROOM_ID) or ""}


@get("/broken/{thing_id:str}", sync_to_thread=False)
def broken(thing_id: str) -> dict[str, str]:
    raise RuntimeError(f"thing {thing_id} broke")


class CollectedMetrics(MetricExporter):
    """A push exporter keeping what it is sent, as the OTLP one would send it to a collector."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        pass


def serve(infra: Infra, migrations: Path, telemetry: Telemetry) -> ServedApp:
    spec = ServiceSpec(
        name="things",
        schema=f"t_things_{uuid.uuid4().hex[:10]}",
        settings=Settings,
        migrations=migrations,
        routes=[thing, broken],
    )
    return ServedApp("things", build_app(spec, infra.settings("things"), telemetry=telemetry), free_port())


@pytest.fixture(scope="module")
def migrations(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(tmp_path_factory.mktemp("things_migrations"))


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http(infra: Infra, migrations: Path, spans: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    telemetry = Telemetry("things")
    add_exporter(telemetry, spans)
    served = serve(infra, migrations, telemetry)
    await served.start()
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
            yield client
    finally:
        await served.stop()


def server_spans_of(spans: InMemorySpanExporter, raw_id: str) -> list[ReadableSpan]:
    """The server spans of the requests whose URL named `raw_id`."""
    return [
        s
        for s in spans.get_finished_spans()
        if any(raw_id in str(v) for k, v in (s.attributes or {}).items() if k in ("http.target", "url.path"))
    ]


async def test_a_request_span_is_named_by_its_route_template_never_by_the_raw_id(
    http: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    thing_id = str(uuid.uuid4())
    assert (await http.get(f"/things/{thing_id}")).status_code == 200
    (span,) = server_spans_of(spans, thing_id)
    assert span.name == "GET /things/{thing_id}"
    assert span.attributes["http.route"] == "/things/{thing_id}"

    stray_id = str(uuid.uuid4())
    assert (await http.get(f"/no-such-page/{stray_id}")).status_code == 404
    (stray,) = server_spans_of(spans, stray_id)
    assert stray.name == "GET"
    assert stray_id not in str(stray.attributes.get("http.route", ""))


async def test_a_request_continues_the_callers_trace_with_its_room_and_says_what_it_answered(
    http: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    thing_id, room_id = str(uuid.uuid4()), str(uuid.uuid4())
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    headers = {
        "traceparent": f"00-{trace_id}-{parent_id}-01",
        # Only our keys with id-like values survive: the other two never reach the span or the handler.
        "baggage": f"{names.ROOM_ID}={room_id},evil=1,{names.VIDEO_ID}=no%20spaces%20allowed",
    }
    answer = await http.get(f"/things/{thing_id}", headers=headers)
    assert answer.status_code == 200
    assert answer.json()["room"] == room_id
    (span,) = server_spans_of(spans, thing_id)
    assert span.kind == SpanKind.SERVER
    assert (format(span.context.trace_id, "032x"), format(span.parent.span_id, "016x")) == (trace_id, parent_id)
    assert span.attributes["http.request.method"] == "GET"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes[names.ROOM_ID] == room_id
    assert "evil" not in span.attributes
    assert names.VIDEO_ID not in span.attributes
    assert span.status.status_code == StatusCode.UNSET


async def test_a_request_that_fails_is_an_error_span_and_a_probe_has_none(
    http: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    thing_id = str(uuid.uuid4())
    assert (await http.get(f"/broken/{thing_id}")).status_code == 500
    (span,) = server_spans_of(spans, thing_id)
    assert span.name == "GET /broken/{thing_id}"
    assert span.attributes["http.response.status_code"] == 500
    assert span.status.status_code == StatusCode.ERROR

    before = len(spans.get_finished_spans())
    for probe in ("/health", "/ready", "/metrics", "/schema/openapi.json"):
        assert (await http.get(probe)).status_code == 200
    assert [s.attributes.get("url.path") for s in spans.get_finished_spans()[before:]] == []


async def test_a_log_line_written_while_serving_carries_the_requests_trace_and_span_ids(
    http: httpx.AsyncClient, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    thing_id = str(uuid.uuid4())
    assert (await http.get(f"/things/{thing_id}")).status_code == 200
    (span,) = server_spans_of(spans, thing_id)
    (record,) = [r for r in caplog.records if r.name == log.name and thing_id in r.getMessage()]
    assert getattr(record, "trace_id", None) == format(span.context.trace_id, "032x")
    assert getattr(record, "span_id", None) == format(span.context.span_id, "016x")
    outside = logging.getLogRecordFactory()("x", logging.INFO, __file__, 1, "not serving", None, None)
    assert (getattr(outside, "trace_id", None), getattr(outside, "span_id", None)) == ("-", "-")


async def test_the_access_line_of_a_request_carries_its_trace_id(
    http: httpx.AsyncClient, spans: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="liveloop.access")
    thing_id = str(uuid.uuid4())
    assert (await http.get(f"/things/{thing_id}")).status_code == 200
    (span,) = server_spans_of(spans, thing_id)
    (line,) = await eventually(
        lambda: [r for r in caplog.records if r.name == "liveloop.access" and thing_id in r.getMessage()]
    )
    assert getattr(line, "trace_id", None) == format(span.context.trace_id, "032x")


async def test_spans_and_metrics_still_buffered_when_the_service_stops_are_exported(
    infra: Infra, migrations: Path
) -> None:
    spans = InMemorySpanExporter()
    metrics = CollectedMetrics()
    # As in production: spans batched (every 5 s), metrics pushed every minute.
    telemetry = Telemetry(
        "things",
        span_processors=[BatchSpanProcessor(spans)],
        metric_readers=[PeriodicExportingMetricReader(metrics, export_interval_millis=60_000)],
    )
    served = serve(infra, migrations, telemetry)
    await served.start()
    thing_id = str(uuid.uuid4())
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=15) as client:
            assert (await client.get(f"/things/{thing_id}")).status_code == 200
    finally:
        await served.stop()

    assert server_spans_of(spans, thing_id), "the last request's span was lost at stop"
    exported = [
        point
        for data in metrics.exported
        for rm in data.resource_metrics
        for scope in rm.scope_metrics
        for metric in scope.metrics
        if metric.name == "http.server.duration"
        for point in metric.data.data_points
    ]
    assert any(p.attributes.get("http.route") == "/things/{thing_id}" and p.count >= 1 for p in exported), exported
