"""Every request gets an id (the caller's `X-Request-ID` if sane, else a fresh one), echoed in the response and
stamped on every log record written while it is served, with the current trace and span ids.

Its own module, apart from `libs.web.app`, so the web app (which has no database or bus, and may not import
`libs.web.app`'s) logs the same way.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
# The current request's id, stamped on every log record written while serving it.
REQUEST_ID: ContextVar[str] = ContextVar("liveloop_request_id", default="-")


def install_request_id_logging() -> None:
    """Give every log record a `request_id` attribute (`-` outside requests) and the current span's `trace_id` and
    `span_id` (hex, `-` when no span is current), so a log line leads to its trace; idempotent."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "liveloop_request_id", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        else:
            record.trace_id = record.span_id = "-"
        return record

    factory.liveloop_request_id = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class RequestIds:
    """ASGI middleware: the request's id in `scope["request_id"]`, the `X-Request-ID` response header and the logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def refuse(self, scope: Scope, send: Send) -> bool:
        """Answer the request here instead of passing it on (True when it did); nothing by default."""
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope["request_id"] = request_id  # type: ignore[typeddict-unknown-key]

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            if not await self.refuse(scope, send_with_id):
                await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
