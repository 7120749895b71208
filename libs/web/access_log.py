"""One log line per request, at INFO on `liveloop.access`: method, path, status, duration and (through the record
factory) the request id.

It wraps the whole app (`build_app`), inside `RequestIdMiddleware` so the request id is set while it logs: the
router's own 404 and 405, the route middlewares (the flash-sale purchase middleware) and the handlers are all logged.
Why ours rather than uvicorn's access log: uvicorn's has neither the duration nor the request id.
Not logged: the probes (`/health`, `/ready`, `/metrics`), which orchestrators and scrapers poll every few seconds.
When the logger is off for INFO (`LIVELOOP_ACCESS_LOG=off`, `LOG_LEVEL=WARNING`) a request costs one level check.
"""

from __future__ import annotations

import logging
import time

from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("liveloop.access")
QUIET_PATHS = frozenset({"/health", "/ready", "/metrics"})


class AccessLogMiddleware:
    """Logs `METHOD /path STATUS 12.3 ms` once the response is finished (or failed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS or not log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        status = 0
        started = time.perf_counter()

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        except Exception as exc:
            # Answered by the exception handler around the router, after us: the status it will send.
            status = status or (exc.status_code if isinstance(exc, HTTPException) else 500)
            raise
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            log.info("%s %s %d %.1f ms", scope["method"], scope["path"], status, elapsed_ms)
