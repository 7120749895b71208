"""The web app's one wiring place: pages, static files, templates, catalogues, CSRF, the API clients.

Not built through `libs.web.build_app`: that is a service's factory (its schema's migrations, a database pool, NATS,
the relay), and the web app has none of them. What it does share: the telemetry providers and the server span per
request (so the API calls a page makes join its trace), the request id, and the access log line per request.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar import Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import ResponseHeader
from litestar.exceptions import HTTPException
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from libs.settings import check_secrets, load
from libs.telemetry import Telemetry
from libs.telemetry.http import AnsweredRequests, HttpMetrics, RouteSpanName, ServerSpans
from libs.web.access_log import QUIET_PATHS, log_access
from libs.web.request_ids import RequestIds, install_request_id_logging
from services.web.adapters.apis import ApiRefused, Apis
from services.web.adapters.catalogues import load_catalogues
from services.web.api import (
    NotSignedIn,
    WrongRole,
    account,
    buyer,
    counter,
    host,
    is_dev,
    operator,
    orders,
    page,
    redirect,
    room,
    seller,
    seller_live,
    seller_local,
    seller_orders,
)
from services.web.domain import due_in, money, nav_links, when
from services.web.settings import WebSettings

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
CSRF_COOKIE = "liveloop_csrf"
# Everything a page loads is ours (vendored HTMX, our CSS); no inline script or style, no framing by other sites.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        # Images also over https: room and video covers are the hosts' URLs (live takes only http(s) ones).
        "default-src 'self'; img-src 'self' data: https:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _not_signed_in(request: Request, _exc: Exception) -> Response:
    if is_dev(request):
        return redirect(f"/sign-in?next={request.url.path}")
    return redirect("/signed-out")


def _wrong_role(request: Request, _exc: Exception) -> Response:
    return page(request, "error.html", status=403, status_code=403, detail=None)


def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiRefused)
    # What the API said, where a page can say the same (a refusal, its throttle, it being unavailable); anything else
    # it answered is a bad gateway for us.
    status = 503 if exc.unreachable else exc.status if exc.status in (400, 401, 403, 404, 409, 422, 429, 503) else 502
    if exc.status >= 500 or exc.unreachable:
        log.warning("%s answered %s on %s: %s", exc.service, exc.status, request.url.path, exc.detail)
    return page(request, "error.html", status=status, status_code=status, detail=exc.detail if status != 404 else None)


def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 500:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return page(request, "error.html", status=status, status_code=status, detail=None)


def create_app(
    settings: WebSettings | None = None,
    *,
    telemetry: Telemetry | None = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Litestar:
    """The web app (settings from the environment if none; `transports` lets a test route an API in-process)."""
    settings = settings if settings is not None else load(WebSettings, "web")
    check_secrets(settings)
    install_request_id_logging()
    telemetry = telemetry or Telemetry(
        "web", otlp_endpoint=settings.otlp_endpoint, sample_ratio=settings.trace_sample_ratio
    )
    apis = Apis(settings, transports)
    dev = settings.environment == "dev"

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals.update(money=money, when=when, due_in=due_in, nav_links=nav_links)

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await apis.open()
        try:
            yield
        finally:
            await apis.close()
            # Telemetry.shutdown is blocking I/O (an OTLP export) but quick without an endpoint.
            telemetry.shutdown()

    app = Litestar(
        route_handlers=[
            *account.ROUTES,
            *seller.ROUTES,
            *counter.ROUTES,
            *seller_orders.ROUTES,
            *seller_live.ROUTES,
            *seller_local.ROUTES,
            *host.ROUTES,
            *room.ROUTES,
            *buyer.ROUTES,
            *orders.ROUTES,
            *operator.ROUTES,
            create_static_files_router(path="/static", directories=[STATIC], include_in_schema=False),
        ],
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment)),
        csrf_config=CSRFConfig(
            secret=settings.session_secret,
            cookie_name=CSRF_COOKIE,
            cookie_httponly=True,
            cookie_secure=not dev,
            cookie_samesite="lax",
            # The identity provider's form post cannot carry our CSRF cookie; the token it posts is the proof.
            exclude=["/sign-in/callback"],
        ),
        exception_handlers={
            NotSignedIn: _not_signed_in,
            WrongRole: _wrong_role,
            ApiRefused: _refused,
            Exception: _http_error,
        },
        middleware=[RouteSpanName],
        response_headers=[ResponseHeader(name=name, value=value) for name, value in SECURITY_HEADERS.items()],
        lifespan=[lifespan],
        openapi_config=None,
        logging_config=None,
        debug=False,
    )
    app.state.settings = settings
    app.state.apis = apis
    app.state.catalogues = load_catalogues()
    # As the services do: every answer carries a request id (X-Request-ID), stamped on the access line and every log
    # record written while serving it.
    app.asgi_handler = RequestIds(
        AnsweredRequests(
            ServerSpans(app.asgi_handler, telemetry.tracer, exclude=("/health", "/ready", "/static")),
            [HttpMetrics(telemetry.meter), log_access],
            quiet=QUIET_PATHS,
        )
    )
    return app
