"""Each HTTP request timed once, around the whole app; its listeners record it (metrics) and log it (access log).

`AnsweredRequests` wraps the app below the request id: it notes the status the client got and the time taken, and
calls every listener with `(scope, status, elapsed_ms)` once the answer is sent (or the app failed: 500). The
router's own 404/405 and the purchase middleware's answers pass through it like any other.

`HttpMetrics` is the listener behind `http.server.duration`: one record per request, three bounded labels
(`http.route` is the template the router matched, `/rooms/{room_id}`, never a raw id; `unmatched` for a path no
route serves; a method outside HTTP's own is `_OTHER`), the attribute dict cached per combination. Why ours rather
than the OpenTelemetry ASGI instrumentation's metrics (Litestar's plugin keeps doing the traces): that
instrumentation records five measurements per request (duration, request and response size, in-flight up and
down), each with a dozen attributes the SDK copies, cleans and hashes, about 130 µs of a ~500 µs authenticated echo
measured in process (docs/PERFORMANCE.md); it labels them with the Host header and server address a client chooses
and knows no Litestar route template. Plain ASGI: importing this never imports the web framework.

`ServerSpans` makes the server span, around the whole app, before routing, when no template is known: it is named
by the method alone (never the raw path, whose ids would make every request a span name of its own), and
`RouteSpanName`, an app middleware (it runs once the router matched), renames it `METHOD /template` and sets
`http.route` to the template, as the metric's label. A path no route serves keeps the method alone. Why ours rather
than the OpenTelemetry ASGI instrumentation (which Litestar's plugin wraps): per request, that one read every header
through a getter nine times over, built and cleaned a dozen attributes (Host, addresses, flavour, user agent), and
copied the scope: swapping it for this one took an authenticated echo in process from 252 to 203 µs
(docs/PERFORMANCE.md). This one extracts
W3C `traceparent`/`tracestate`/`baggage` (through the global propagator, so baggage stays allow-listed), starts one
SERVER span with method, path and scheme, sets the status code it answered, marks 5xx and exceptions as errors, and
makes the span current for everything below, as that one did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from time import perf_counter
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.metrics import Meter
from opentelemetry.trace import SpanKind, Status, StatusCode

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
# Told of each answered request: its scope, the status the client got, milliseconds taken.
Listener = Callable[[Scope, int, float], None]

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"})
UNMATCHED = "unmatched"
HTTP_ROUTE = "http.route"
# The scope key holding the request's server span, for what runs after it ended (the access line).
SERVER_SPAN = "liveloop.server_span"


class AnsweredRequests:
    """ASGI wrapper timing each HTTP request (but `quiet` paths) and telling `listeners` once it is answered."""

    def __init__(self, app: ASGIApp, listeners: Sequence[Listener], *, quiet: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.listeners = tuple(listeners)
        self.quiet = quiet

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.quiet:
            await self.app(scope, receive, send)
            return
        status = 500  # what the server sends if the app fails before answering
        started = perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            elapsed_ms = (perf_counter() - started) * 1000
            for listener in self.listeners:
                listener(scope, status, elapsed_ms)


# The request headers trace context and baggage arrive in (W3C).
_PROPAGATED = frozenset({b"traceparent", b"tracestate", b"baggage"})


class ServerSpans:
    """ASGI wrapper: one SERVER span per HTTP request (but paths starting with one of `exclude`), current while the
    app answers it, kept on the scope (`SERVER_SPAN`) for what runs after it ended (the access line)."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer, *, exclude: Sequence[str] = ()) -> None:
        self.app = app
        self.tracer = tracer
        self.exclude = tuple(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exclude):
            await self.app(scope, receive, send)
            return
        carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            if name in _PROPAGATED:
                if carrier is None:
                    carrier = {}
                carrier[name.decode("latin-1")] = value.decode("latin-1")
        # No header: the current context (empty in a server), as extracting nothing would give.
        parent = propagate.extract(carrier) if carrier else context.get_current()
        span = self.tracer.start_span(
            span_name(scope),
            context=parent,
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": _method(str(scope.get("method", ""))),
                "url.path": scope["path"],
                "url.scheme": scope["scheme"],
            },
        )
        scope[SERVER_SPAN] = span
        status = 0

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send_noting_status)
        except BaseException as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            if status and span.is_recording():
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            context.detach(token)
            span.end()


def _method(raw: str) -> str:
    return raw if raw in _METHODS else "_OTHER"


def span_name(scope: Scope) -> str:
    """The server span's name before routing: the method alone (`HTTP` for one HTTP lacks)."""
    method = _method(str(scope.get("method", "")))
    return "HTTP" if method == "_OTHER" else method


class RouteSpanName:
    """App middleware naming the current server span `METHOD /route/{template}`, with `http.route` the template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        template = scope.get("path_template")
        if template and scope["type"] == "http":
            span = trace.get_current_span()
            if span.is_recording():
                span.update_name(f"{span_name(scope)} {template}")
                span.set_attribute(HTTP_ROUTE, template)
        await self.app(scope, receive, send)


class HttpMetrics:
    """Listener recording `http.server.duration` (ms) by method, status and route template."""

    def __init__(self, meter: Meter) -> None:
        self.duration = meter.create_histogram(
            "http.server.duration", unit="ms", description="Time to answer an HTTP request, by route template"
        )
        # (method, status, route) -> the attributes of its series; bounded by routes x methods x statuses.
        self._attributes: dict[tuple[str, int, str], dict[str, str | int]] = {}

    def __call__(self, scope: Scope, status: int, elapsed_ms: float) -> None:
        key = (scope["method"], status, scope.get("path_template") or UNMATCHED)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = {"http.method": _method(key[0]), "http.status_code": status, "http.route": key[2]}
            self._attributes[key] = attributes
        self.duration.record(elapsed_ms, attributes)


__all__ = [
    "UNMATCHED",
    "AnsweredRequests",
    "HttpMetrics",
    "Listener",
    "RouteSpanName",
    "ServerSpans",
    "span_name",
]
