"""The OpenAPI document every service serves: what a route really answers, not only what its signature shows.

Litestar documents a route's success from its signature; what it refuses it cannot see. `document()` rewrites each
operation from what the route already says about itself:

- its guards: a `requires(...)` guard → bearer security, 401, and 403 when it names roles (listed in `x-roles`);
  a `throttled(...)` guard → 429 with Retry-After;
- its inputs: a path parameter → 404 (unknown ids and other people's things); a query parameter, a body or an
  Idempotency-Key → 400 (decoding); a body → 422 (a rule refused it);
- what it declares in `opt=documented(...)`: the refusals its use case raises (by kind, statuses from
  `libs.web.problems.STATUS`) and whether it takes an Idempotency-Key (409 while the first is running, 422 when
  reused with another request);
- a `ServerSentEvent` answer → `text/event-stream`.

Every error answer is RFC 9457 `application/problem+json` with the one `Problem` schema. Served as JSON at
`/schema/openapi.json` (and `/schema`), with no documentation UI: nothing to load from a CDN, and any OpenAPI
viewer opens the document.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Iterator
from typing import Any, Literal

import msgspec
from litestar import Litestar, Request
from litestar.enums import OpenAPIMediaType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import ServerSentEvent
from litestar.routes import HTTPRoute

from libs.errors import DomainError
from libs.web.problems import PROBLEM_JSON, TYPE_PREFIX, status_of_kind
from libs.web.throttle import Limits

BEARER = "bearerAuth"
IDEMPOTENCY_KEY = "Idempotency-Key"
# `opt` keys `documented()` writes and `document()` reads.
_REFUSES = "openapi_refuses"
_IDEMPOTENCY = "openapi_idempotency_key"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details: every error answer of every Liveloop service.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {
            "type": "string",
            "description": f"`{TYPE_PREFIX}<code>`: the stable code clients switch on is its last segment",
        },
        "title": {"type": "string", "description": "the status's reason phrase"},
        "status": {"type": "integer", "description": "the HTTP status, repeated"},
        "detail": {"type": "string", "description": "what went wrong, for a person"},
        "instance": {"type": "string", "description": "the request's path"},
        "code": {"type": "string", "description": "the stable code (the last segment of `type`), where given"},
        "field": {"type": "string", "description": "the request field at fault, where one is"},
        "errors": {
            "type": "array",
            "description": "every field at fault, with its message",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "source": {"type": ["string", "null"]},
                },
            },
        },
        "request_id": {"type": "string", "description": "the request's id (also the X-Request-ID header)"},
    },
    # A refusal's own members (`available`, `limit`, `retry_after_s`, ...).
    "additionalProperties": True,
}

_WWW_AUTHENTICATE = {"description": '`Bearer realm="liveloop"`', "schema": {"type": "string"}}
_RETRY_AFTER = {"description": "seconds to wait before trying again", "schema": {"type": "string"}}
# Each status a route may refuse with: the name of its shared response, what it means, and its headers.
RESPONSES: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: ("BadRequest", "The request is malformed: a field, parameter or header that cannot be read.", {}),
    401: (
        "Unauthorized",
        "No bearer token, or one that is not valid here.",
        {"WWW-Authenticate": _WWW_AUTHENTICATE},
    ),
    402: ("PaymentFailed", "The payment method was declined.", {}),
    403: ("Forbidden", "The token's role or owner may not do this.", {}),
    404: ("NotFound", "No such thing, or not the caller's (both answer the same).", {}),
    409: ("Conflict", "The state of things refuses it now (or a request with this Idempotency-Key is running).", {}),
    422: ("Unprocessable", "Well-formed, but against a rule (or an Idempotency-Key reused for another request).", {}),
    429: ("TooManyRequests", "This caller is going too fast.", {"Retry-After": _RETRY_AFTER}),
    503: ("Unavailable", "Something this needs did not answer; nothing was done, a retry is safe.", {}),
}


def documented(
    *refuses: type[DomainError] | int,
    idempotency_key: Literal["required", "optional"] | None = None,
) -> dict[str, Any]:
    """A route's `opt=`: the refusals its use case raises (kinds or statuses) and its Idempotency-Key."""
    statuses = tuple(sorted({r if isinstance(r, int) else status_of_kind(r) for r in refuses}))
    opt: dict[str, Any] = {_REFUSES: statuses}
    if idempotency_key is not None:
        opt[_IDEMPOTENCY] = idempotency_key
    return opt


def roles_of(handler: HTTPRouteHandler) -> tuple[str, ...] | None:
    """The roles a route's `requires` guard names (`()`: any valid token), or None for a public route."""
    found: tuple[str, ...] | None = None
    for guard in handler.resolve_guards():
        roles = getattr(guard, "roles", None)
        if roles is not None:
            found = (*(found or ()), *roles)
    return found


def _throttled(handler: HTTPRouteHandler) -> bool:
    # `throttled(limits)` marks its guard with the limits it takes from.
    return any(isinstance(getattr(guard, "limits", None), Limits) for guard in handler.resolve_guards())


def _streams(handler: HTTPRouteHandler) -> bool:
    annotation = handler.parsed_fn_signature.return_type.annotation
    return inspect.isclass(annotation) and issubclass(annotation, ServerSentEvent)


def _handlers(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                for method in handler.http_methods:
                    yield route.path_format or "/", method.lower(), handler


def _document_operation(operation: dict[str, Any], handler: HTTPRouteHandler) -> None:
    statuses: set[int] = set(handler.opt.get(_REFUSES, ()))
    parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
    has_body = "requestBody" in operation
    roles = roles_of(handler)
    if roles is not None:
        operation["security"] = [{BEARER: []}]
        statuses.add(401)
        if roles:
            statuses.add(403)
            operation["x-roles"] = list(roles)
            who = f"Bearer token of role {' or '.join(roles)}."
        else:
            who = "Any valid bearer token."
        operation["description"] = f"{operation.get('description', '').strip()}\n\n{who}".strip()
    if _throttled(handler):
        statuses.add(429)
    if any(p.get("in") == "path" for p in parameters):
        statuses.add(404)
    if has_body or any(p.get("in") != "path" for p in parameters):
        statuses.add(400)
    if has_body:
        statuses.add(422)
    key = handler.opt.get(_IDEMPOTENCY)
    if key is not None:
        parameters.append(
            {
                "name": IDEMPOTENCY_KEY,
                "in": "header",
                "required": key == "required",
                "description": "Names this write: a retry with the same key and request gets the first answer.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 200},
            }
        )
        statuses |= {400, 409, 422}
    if not parameters:
        del operation["parameters"]
    # Litestar's own error answers ({status_code, detail, extra}) are not what we send: only successes stay.
    responses = {code: answer for code, answer in operation.get("responses", {}).items() if code.startswith("2")}
    if _streams(handler):
        code = next(iter(responses), "200")
        responses = {
            code: {
                "description": "Server-Sent Events: `event: state` first, then one event per change (`id` = seq).",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            }
        }
    for status in sorted(statuses):
        responses[str(status)] = {"$ref": f"#/components/responses/{RESPONSES[status][0]}"}
    operation["responses"] = responses


def document(app: Litestar, generated: dict[str, Any]) -> dict[str, Any]:
    """`generated` (Litestar's document of `app`) with each operation's real answers, security and headers."""
    doc = copy.deepcopy(generated)
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Liveloop token (`liveloop token --role ...`); its `role` claim decides what it may call.",
        }
    }
    components["responses"] = {
        name: {
            "description": description,
            **({"headers": headers} if headers else {}),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for name, description, headers in RESPONSES.values()
    }
    paths = doc.get("paths", {})
    for path, method, handler in _handlers(app):
        operation = paths.get(path, {}).get(method)
        if operation is not None:
            _document_operation(operation, handler)
    return doc


class OpenAPIDocument(JsonRenderPlugin):
    """Serves `document()` as JSON at `/openapi.json` and at the schema root; built once per app."""

    def __init__(self) -> None:
        super().__init__(path=["/openapi.json", "/"], media_type=OpenAPIMediaType.OPENAPI_JSON)
        self._rendered: bytes | None = None

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        if self._rendered is None:
            self._rendered = msgspec.json.encode(document(request.app, openapi_schema))
        return self._rendered


def openapi_config(title: str, description: str, *, path: str = "/schema") -> OpenAPIConfig:
    """The OpenAPI configuration of a service: its document at `<path>/openapi.json` (and `<path>`), no UI."""
    return OpenAPIConfig(
        title=title,
        version="1.0.0",
        description=description,
        path=path,
        use_handler_docstrings=True,
        render_plugins=[OpenAPIDocument()],
    )


def served_document(app: Litestar) -> dict[str, Any]:
    """The document `app` serves, built in process (for tools and tests that hold the app)."""
    return document(app, app.openapi_schema.to_schema())


__all__: list[str] = [
    "BEARER",
    "IDEMPOTENCY_KEY",
    "OpenAPIDocument",
    "document",
    "documented",
    "openapi_config",
    "roles_of",
    "served_document",
]
