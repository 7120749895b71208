"""`LIVELOOP_TRACE_SAMPLE_RATIO`: a service records that share of the traces it starts, and follows its caller's
decision for the rest, so a trace is recorded whole or not at all."""

from __future__ import annotations

import msgspec
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from libs.settings import Settings, load
from libs.telemetry import Telemetry, add_exporter, capture_headers, context_from


def _telemetry(ratio: float) -> tuple[Telemetry, InMemorySpanExporter]:
    telemetry = Telemetry("sampling", sample_ratio=ratio)
    spans = InMemorySpanExporter()
    add_exporter(telemetry, spans)
    return telemetry, spans


def test_a_ratio_of_zero_records_no_trace_it_starts_but_still_carries_the_trace_id_onward() -> None:
    telemetry, spans = _telemetry(0.0)
    with telemetry.tracer.start_as_current_span("root") as root:
        assert not root.is_recording()
        headers = capture_headers()
    assert spans.get_finished_spans() == ()
    assert int(headers["traceparent"].rsplit("-", 1)[1], 16) & 0x01 == 0  # not sampled: downstream records nothing
    assert format(root.get_span_context().trace_id, "032x") in headers["traceparent"]


def test_a_request_that_arrives_recorded_is_recorded_whatever_the_ratio() -> None:
    caller, _ = _telemetry(1.0)
    callee, spans = _telemetry(0.0)
    with caller.tracer.start_as_current_span("client"):
        headers = capture_headers()
    token = context.attach(context_from(headers))
    try:
        with callee.tracer.start_as_current_span("server") as server:
            assert server.is_recording()
    finally:
        context.detach(token)
    (span,) = spans.get_finished_spans()
    assert span.parent is not None
    assert span.context.trace_id == trace.get_current_span(context_from(headers)).get_span_context().trace_id


def test_about_the_ratio_of_root_traces_is_recorded() -> None:
    telemetry, spans = _telemetry(0.25)
    for _ in range(4000):
        with telemetry.tracer.start_as_current_span("root"):
            pass
    # Decided by the trace id (random): 1,000 expected; 6 standard deviations either side.
    assert 830 < len(spans.get_finished_spans()) < 1170


def test_a_ratio_outside_zero_to_one_is_refused_naming_the_variable() -> None:
    with pytest.raises(msgspec.ValidationError, match="LIVELOOP_TRACE_SAMPLE_RATIO"):
        load(Settings, "live", {"LIVELOOP_TRACE_SAMPLE_RATIO": "1.5"})
    assert load(Settings, "live", {"LIVELOOP_TRACE_SAMPLE_RATIO": "0.1"}).trace_sample_ratio == 0.1
    with pytest.raises(ValueError, match=r"0\.\.1"):
        Telemetry("x", sample_ratio=-0.1)
