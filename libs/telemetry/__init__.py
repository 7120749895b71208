"""OpenTelemetry providers for one service, and the helpers every hop uses."""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.processor.baggage import BaggageSpanProcessor
from opentelemetry.propagators.composite import CompositePropagator
from opentelemetry.propagators.textmap import default_getter
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from libs.telemetry import names
from libs.telemetry.span_file import SPANS_DIR_ENV, SpanFileExporter
from libs.telemetry.span_file import SUFFIX as SPANS_SUFFIX

log = logging.getLogger(__name__)
_BAGGAGE_VALUE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# The classic text format (names escaped to underscores), which every Prometheus version reads.
METRICS_CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# What a scrape may wait for a probe's query; a slow database or NATS leaves that gauge at its last value.
PROBE_TIMEOUT_S = 2.0
# What a stopping service waits for its last spans and metrics to leave (an unreachable collector costs this).
SHUTDOWN_TIMEOUT_MS = 5_000
# How often the span file (`make up`) is written to.
SPANS_FILE_DELAY_MS = 1_000


class AllowListBaggagePropagator(W3CBaggagePropagator):
    """W3C baggage, but only our keys with id-like values survive extraction.

    Baggage arrives from clients and rides into every span and outbox row: an open door would let
    anyone write arbitrary attributes (and kilobytes) into funnels built from telemetry.
    """

    def extract(self, carrier, context=None, getter=default_getter):
        extracted = super().extract(carrier, context=context, getter=getter)
        kept = baggage.clear(extracted)  # the span and everything else stay; only baggage is filtered
        for key, value in baggage.get_all(extracted).items():
            if key in names.BAGGAGE_KEYS and isinstance(value, str) and _BAGGAGE_VALUE.match(value):
                kept = baggage.set_baggage(key, value, kept)
        return kept


propagate.set_global_textmap(CompositePropagator([TraceContextTextMapPropagator(), AllowListBaggagePropagator()]))


class Telemetry:
    """A service's own tracer and meter providers (not the globals: tests run services side by side), and its
    metrics in Prometheus text format (`scrape`), from a registry of its own for the same reason."""

    def __init__(
        self,
        service: str,
        *,
        otlp_endpoint: str | None = None,
        span_processors: list[SpanProcessor] | None = None,
        metric_readers: list[MetricReader] | None = None,
        spans_dir: str | None = None,
        sample_ratio: float = 1.0,
    ) -> None:
        resource = Resource.create({"service.name": f"liveloop-{service}", "service.namespace": "liveloop"})
        # Parent-based: a span with a parent (a request carrying `traceparent`, a message carrying its outbox row's
        # context) is recorded exactly when its parent was, so every hop of a trace agrees; a root (a request
        # without a trace, a due job) is recorded with probability `sample_ratio`, decided by its trace id. An
        # unrecorded span still carries its trace id and the room's baggage onward; it costs no attributes, no
        # processors, no export. 1.0 (the default) records everything.
        if not 0.0 <= sample_ratio <= 1.0:
            raise ValueError(f"sample_ratio must be within 0..1, not {sample_ratio}")
        self.tracer_provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(sample_ratio)))
        # Copy the room/video baggage onto every span, so each hop is attributable.
        self.tracer_provider.add_span_processor(BaggageSpanProcessor(lambda key: key in names.BAGGAGE_KEYS))
        readers = list(metric_readers or [])
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
            )
            readers.append(
                PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/metrics"))
            )
        # `make up` sets LIVELOOP_SPANS_DIR: spans land in a file of this service there (`liveloop trace` reads them).
        spans_dir = spans_dir or os.environ.get(SPANS_DIR_ENV)
        if spans_dir:
            path = Path(spans_dir) / f"{service}{SPANS_SUFFIX}"
            # Written each second (not the default 5 s): a developer reads the trace right after the request.
            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(SpanFileExporter(path), schedule_delay_millis=SPANS_FILE_DELAY_MS)
            )
        for processor in span_processors or []:
            self.tracer_provider.add_span_processor(processor)
        # A pull reader: it costs nothing until /metrics asks (`scrape`).
        self.registry = CollectorRegistry(auto_describe=False)
        readers.append(PrometheusMetricReader(registry=self.registry))
        self._probes: dict[str, Callable[[], Awaitable[None]]] = {}
        self._shut_down = False
        self.meter_provider: MeterProvider = SdkMeterProvider(resource=resource, metric_readers=readers)
        self.tracer: Tracer = self.tracer_provider.get_tracer(f"liveloop.{service}")
        self.meter: Meter = self.meter_provider.get_meter(f"liveloop.{service}")

    def probe(self, name: str, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run `refresh` (it sets gauges from one cheap query) before every scrape; replaces the probe `name`."""
        self._probes[name] = refresh

    async def scrape(self) -> bytes:
        """Every metric of this service in Prometheus text format, the probes' gauges refreshed first."""
        probes = list(self._probes.items())
        if probes:
            results = await asyncio.gather(
                *(asyncio.wait_for(refresh(), PROBE_TIMEOUT_S) for _, refresh in probes), return_exceptions=True
            )
            for (name, _), result in zip(probes, results, strict=True):
                if isinstance(result, Exception):
                    log.warning("metrics probe %s failed; its gauges keep their last values: %r", name, result)
        return generate_latest(self.registry)

    def shutdown(self) -> None:
        """Export what is still buffered (the batch's spans, the period's metrics), then stop; once only.

        Without it a stop loses up to the batch delay of spans (5 s) and the export interval of metrics (60 s).
        """
        if self._shut_down:
            return
        self._shut_down = True
        self.tracer_provider.force_flush(SHUTDOWN_TIMEOUT_MS)
        self.tracer_provider.shutdown()
        self.meter_provider.force_flush(SHUTDOWN_TIMEOUT_MS)  # type: ignore[attr-defined]
        self.meter_provider.shutdown(SHUTDOWN_TIMEOUT_MS)  # type: ignore[attr-defined]


class _Shared(SpanExporter):
    """An exporter several services' providers send to (tests: one in-memory exporter per stack): a provider's
    shutdown flushes it but leaves it open for the others (and for the service's next start)."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.exporter = exporter

    def export(self, spans):  # type: ignore[no-untyped-def]
        return self.exporter.export(spans)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.exporter.force_flush(timeout_millis)

    def shutdown(self) -> None:
        self.exporter.force_flush()


def add_exporter(telemetry: Telemetry, exporter: SpanExporter) -> None:
    """Send this service's finished spans to `exporter` as well (tests: in-memory), which may be shared: the
    service's shutdown does not close it."""
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(_Shared(exporter)))


def capture_headers() -> dict[str, str]:
    """The current trace context and baggage as W3C headers (`traceparent`, `baggage`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from(headers: Mapping[str, str] | None) -> context.Context:
    """A context (trace parent + baggage) rebuilt from W3C headers."""
    return propagate.extract(dict(headers or {}))


@contextmanager
def baggage_set(**items: str | None) -> Iterator[None]:
    """Attach baggage (e.g. the room id) to the current context for the block."""
    ctx = context.get_current()
    for key, value in items.items():
        if value:
            ctx = baggage.set_baggage(key, value, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


def tag(attributes: Mapping[str, str | int | float | bool | None]) -> None:
    """Set attributes (names from `libs.telemetry.names`) on the current span, skipping empty values.

    The one span tagger. A value that comes from a client is bounded before it gets here: an id in a path goes
    through `libs.ids.canonical_uuid`, a body field through its Struct's length limits.
    """
    span = trace.get_current_span()
    for key, value in attributes.items():
        if value is not None and value != "":
            span.set_attribute(key, value)


def link_to(headers: Mapping[str, str] | None) -> list[trace.Link]:
    """A span link to the trace that `headers` describe (empty if they describe none)."""
    span_context = trace.get_current_span(context_from(headers)).get_span_context()
    return [trace.Link(span_context)] if span_context.is_valid else []


def link_current(headers: Mapping[str, str] | None) -> None:
    """Link the current span (one already started, e.g. the HTTP server span) to the trace `headers` describe."""
    span = trace.get_current_span()
    for link in link_to(headers):
        span.add_link(link.context)


__all__ = [
    "METRICS_CONTENT_TYPE",
    "Telemetry",
    "add_exporter",
    "baggage_set",
    "capture_headers",
    "context_from",
    "link_current",
    "link_to",
    "names",
    "tag",
]
