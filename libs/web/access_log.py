"""One log line per request, at INFO on `liveloop.access`: method, path, status, duration and (through the record
factory) the request id, trace id and span id of the request's server span.

A listener of `libs.telemetry.http.AnsweredRequests`, which times every request around the whole app (`build_app`),
inside `RequestIdMiddleware` so the request id is set while it logs: the router's own 404 and 405, the route
middlewares (the flash-sale purchase middleware) and the handlers are all logged.
Why ours rather than uvicorn's access log: uvicorn's has neither the duration nor the request id.
Not logged (nor counted): the probes (`/health`, `/ready`, `/metrics`), which orchestrators and scrapers poll every
few seconds. When the logger is off for INFO (`LIVELOOP_ACCESS_LOG=off`, `LOG_LEVEL=WARNING`) a request costs one
level check.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from opentelemetry import context, trace

from libs.telemetry.http import SERVER_SPAN

log = logging.getLogger("liveloop.access")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


def log_access(scope: MutableMapping[str, Any], status: int, elapsed_ms: float) -> None:
    """`METHOD /path STATUS 12.3 ms`, once the request is answered (or failed)."""
    if log.isEnabledFor(logging.INFO):
        span = scope.get(SERVER_SPAN)
        if span is None:
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed_ms)
            return
        # The request's span has ended by now: made current again for the line, whose record takes its trace id.
        token = context.attach(trace.set_span_in_context(span))
        try:
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed_ms)
        finally:
            context.detach(token)


__all__ = ["QUIET_PATHS", "log_access"]
