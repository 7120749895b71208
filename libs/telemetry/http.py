"""HTTP server metrics by route template: Litestar's OpenTelemetry middleware, told the route it matched.

The ASGI instrumentation records `http.server.duration` (count, sum, buckets: request rate, errors by status,
latency) and labels it with the route template only when the framework leaves one at `scope["route"].path_format`
(FastAPI/Starlette do; Litestar keeps it at `scope["path_template"]`). Without it the series carry no route at
all, so we hand the template over: `/rooms/{room_id}`, never a raw id. Kept out of `libs.telemetry` itself so
that importing the providers never imports the web framework.
"""

from __future__ import annotations

from functools import lru_cache
from types import SimpleNamespace

from litestar.middleware import DefineMiddleware
from litestar.plugins.opentelemetry import (
    OpenTelemetryConfig,
    OpenTelemetryInstrumentationMiddleware,
    OpenTelemetryPlugin,
)
from litestar.types import ASGIApp, Receive, Scope, Send


@lru_cache(maxsize=1024)
def _route(template: str) -> SimpleNamespace:
    # One object per route of the app (a bounded set), so a request allocates nothing for it.
    return SimpleNamespace(path_format=template)


class RouteTemplateMiddleware(OpenTelemetryInstrumentationMiddleware):
    """Litestar's OpenTelemetry middleware; the route template the router matched goes on the HTTP metrics.

    The middleware wraps the router, so the template is known only once the request has been routed and
    answered; the instrumentation reads `scope["route"]` after that, when it records the duration.
    """

    def __init__(self, app: ASGIApp, config: OpenTelemetryConfig) -> None:
        async def routed(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await app(scope, receive, send)
            finally:
                template = scope.get("path_template")
                if template:
                    scope["route"] = _route(template)  # type: ignore[typeddict-unknown-key]

        super().__init__(routed, config)


def instrumentation(config: OpenTelemetryConfig) -> OpenTelemetryPlugin:
    """Litestar's OpenTelemetry plugin, its HTTP metrics labelled by route template (`RouteTemplateMiddleware`)."""
    plugin = OpenTelemetryPlugin(config)
    # The plugin wraps the router in its default middleware class whatever `config.middleware_class` says; the app
    # sets this same attribute itself when given the middleware the older way (in `middleware=`).
    plugin._middleware = DefineMiddleware(RouteTemplateMiddleware, config=config)
    return plugin


__all__ = ["RouteTemplateMiddleware", "instrumentation"]
