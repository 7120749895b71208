"""Tag the current span (HTTP request, RPC or consumer) with what it is about."""

from __future__ import annotations

from opentelemetry import trace


def tag(attributes: dict[str, str | None]) -> None:
    """Set span attributes named in libs.telemetry.names, skipping empty values."""
    span = trace.get_current_span()
    for key, value in attributes.items():
        if value:
            span.set_attribute(key, value)
