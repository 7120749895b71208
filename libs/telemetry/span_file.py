"""Finished spans written to a local file, one JSON object a line: what `liveloop trace <order_id>` reads.

`make up` sets `LIVELOOP_SPANS_DIR` (`.liveloop/spans`) and each service appends to `<dir>/<service>.jsonl` from its
batch span processor, off the request path; no collector, no Docker. Why a file of our own rather than the OTLP file
exporter: the SDK for Python has none (the collector's `file` exporter needs the collector), and a line per span in
this shape is all the waterfall needs. A file past `MAX_BYTES` becomes `<service>.jsonl.1` (the previous one is
dropped), so a stack left running for days keeps two files a service. Several processes of one service (uvicorn
workers) append to one file: each batch is one `write` on a file opened `O_APPEND`, so lines never interleave.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

# The environment variable naming the directory; unset: no file.
SPANS_DIR_ENV = "LIVELOOP_SPANS_DIR"
SUFFIX = ".jsonl"
MAX_BYTES = 64 * 1024 * 1024


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


def _plain(value: Any) -> Any:
    # Attribute values are str, bool, int, float or tuples of one of them.
    return list(value) if isinstance(value, tuple) else value


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as the JSON object written a line (and read by `libs.telemetry.waterfall`)."""
    context = span.context
    resource = span.resource.attributes if span.resource else {}
    return {
        "trace_id": _hex(context.trace_id, 32),
        "span_id": _hex(context.span_id, 16),
        "parent_span_id": _hex(span.parent.span_id, 16) if span.parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "service": str(resource.get("service.name", "")),
        "start_ns": span.start_time or 0,
        "end_ns": span.end_time or span.start_time or 0,
        "status": span.status.status_code.name,
        "attributes": {key: _plain(value) for key, value in (span.attributes or {}).items()},
        "links": [
            {"trace_id": _hex(link.context.trace_id, 32), "span_id": _hex(link.context.span_id, 16)}
            for link in span.links
        ],
    }


class SpanFileExporter(SpanExporter):
    """Appends each batch of finished spans to `path` as JSON lines, rotating it past `max_bytes`."""

    def __init__(self, path: Path, *, max_bytes: int = MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if not spans:
            return SpanExportResult.SUCCESS
        data = "".join(json.dumps(span_record(s), separators=(",", ":"), default=str) + "\n" for s in spans)
        try:
            self._rotate_if_full()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, data.encode())
            finally:
                os.close(fd)
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _rotate_if_full(self) -> None:
        try:
            full = self.path.stat().st_size >= self.max_bytes
        except FileNotFoundError:
            return
        if full:
            # Two workers rotating at once: the second finds no file (nothing lost) or a fresh one (a few spans lost).
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def span_files(directory: Path) -> list[Path]:
    """Every span file in `directory`, rotated ones included."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.endswith(SUFFIX) or p.name.endswith(SUFFIX + ".1"))


__all__ = ["MAX_BYTES", "SPANS_DIR_ENV", "SUFFIX", "SpanFileExporter", "span_files", "span_record"]
