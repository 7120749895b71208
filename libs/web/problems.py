"""RFC 9457 problem+json for every error, naming the field where one is at fault."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import Scope, Send

from libs.db import is_transient
from libs.errors import BadRequest, Conflict, DomainError, Forbidden, Invalid, NotFound, PaymentFailed, Unavailable

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "https://liveloop.dev/problems/"

_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    414: "URI Too Long",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
# The one table from a refusal's kind to its HTTP status; its problem type is TYPE_PREFIX + its code.
STATUS: dict[type[DomainError], int] = {
    BadRequest: 400,
    PaymentFailed: 402,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Unavailable: 503,
}
_CODES = {400: "invalid-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed"}


_UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


class Problem(HTTPException):
    """A refusal of the web layer itself (a missing header, a throttled caller), with a stable machine code.

    Rules of a service refuse with `libs.errors.DomainError`s instead, which never import the web.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=headers)
        self.code = code
        self.field = field
        self.extra_members = extra


def _field_from_message(message: str, parent: str | None = None) -> str | None:
    # msgspec says "... - at `$.items[0].quantity`"; turn that into "items[0].quantity".
    # Litestar strips that suffix and hands the path over as the error's key instead (`parent`).
    found = re.search(r"at `\$\.?([^`]*)`", message)
    path = found.group(1) if found else parent
    # A missing or unknown field is named in the message, its parent in the path: "... field `q` - at `$.items[0]`".
    named = re.search(r"(?:missing required|contains unknown) field `([^`]*)`", message)
    if named:
        return f"{path}.{named.group(1)}" if path else named.group(1)
    return path


def status_of(error: DomainError) -> int:
    """The HTTP status of a refusal, by its kind (STATUS); a refusal of no kind is a bad request."""
    return status_of_kind(type(error))


def status_of_kind(kind: type[DomainError]) -> int:
    """The HTTP status of a refusal class (a kind or a subclass of one); a class of no kind is a bad request."""
    for cls in kind.__mro__:
        status = STATUS.get(cls)
        if status is not None:
            return status
    return 400


def problem_members(problem: Problem | DomainError) -> dict[str, Any]:
    """The problem+json members of a refusal, short of `instance` and `request_id` (which the request gives)."""
    if isinstance(problem, DomainError):
        status, extra = status_of(problem), problem.extra
    else:
        status, extra = problem.status_code, problem.extra_members
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + problem.code,
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": problem.detail,
    }
    if problem.field:
        body["field"] = problem.field
        body["errors"] = [{"field": problem.field, "message": problem.detail}]
    body.update(extra)
    return body


def problem_response(request: Request, exc: Exception) -> Response:
    """Render any exception as problem+json (internal errors without their details)."""
    body: dict[str, Any]
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        body = problem_members(exc)
        status = body["status"]
    elif isinstance(exc, Problem):
        status = exc.status_code
        body = problem_members(exc)
        headers.update(exc.headers or {})
    elif isinstance(exc, ValidationException):
        status = 400
        errors = []
        for item in exc.extra if isinstance(exc.extra, list) else []:
            message = str(item.get("message", "")) if isinstance(item, dict) else str(item)
            key = item.get("key") if isinstance(item, dict) else None
            parent = key if key and key not in ("body", "data") else None
            field = _field_from_message(message, parent)
            errors.append(
                {"field": field, "message": message, "source": item.get("source") if isinstance(item, dict) else None}
            )
        missing = re.search(r"Missing required \w+ parameter '([^']+)'", str(exc.detail))
        if missing and not errors:
            # Litestar names a missing query, path or header parameter only in its detail.
            errors.append({"field": missing.group(1), "message": str(exc.detail), "source": None})
        named = [e["field"] for e in errors if e["field"]]
        detail = "; ".join(e["message"] for e in errors) or str(exc.detail)
        if named:
            detail = f"invalid field {named[0]!r}: {detail}"
        body = {
            "type": TYPE_PREFIX + "validation-failed",
            "title": _TITLES[400],
            "status": 400,
            "detail": detail,
            "errors": errors,
        }
        if named:
            body["field"] = named[0]
    elif isinstance(exc, _UNSTORABLE_TEXT):
        # Postgres refuses NUL and invalid bytes in text: that is the client's input, not our failure.
        status = 400
        body = {
            "type": TYPE_PREFIX + "invalid-characters",
            "title": _TITLES[400],
            "status": 400,
            "detail": "text must not contain NUL characters or invalid UTF-8",
        }
    elif isinstance(exc, HTTPException):
        status = exc.status_code
        body = {
            "type": TYPE_PREFIX + _CODES.get(status, f"http-{status}"),
            "title": _TITLES.get(status, "Error"),
            "status": status,
            "detail": exc.detail,
        }
        headers.update(exc.headers or {})
    elif is_transient(exc):
        # The database (or the network to it) is down or restarting: nothing was committed, so a retry with the same
        # Idempotency-Key is safe. One line in the log, not a traceback per request of an outage.
        log.warning("%s %s: unavailable (%s: %s)", request.method, request.url.path, type(exc).__name__, exc)
        body = problem_members(Unavailable("the database did not answer; nothing was done, try again"))
        status = body["status"]
        headers["Retry-After"] = "1"
    else:
        status = HTTP_500_INTERNAL_SERVER_ERROR
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        body = {"type": TYPE_PREFIX + "internal", "title": _TITLES[500], "status": 500, "detail": "internal error"}
    body["instance"] = request.url.path
    request_id = request.scope.get("request_id")  # type: ignore[typeddict-item]
    if request_id:
        body["request_id"] = request_id
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_encode = msgspec.json.Encoder().encode


async def send_problem(scope: Scope, send: Send, refusal: DomainError | Problem) -> None:
    """Answer with the problem+json `problem_response` would render, straight from ASGI code below the framework's
    exception handling (the purchase middleware's refusals and throttle, an over-long URL)."""
    body = problem_members(refusal)
    body["instance"] = scope["path"]
    request_id = scope.get("request_id")
    if request_id:
        body["request_id"] = request_id
    content = _encode(body)
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(content)).encode())]
    if isinstance(refusal, Problem):
        headers += [(k.lower().encode(), v.encode()) for k, v in (refusal.headers or {}).items()]
    await send({"type": "http.response.start", "status": body["status"], "headers": headers})
    await send({"type": "http.response.body", "body": content, "more_body": False})


EXCEPTION_HANDLERS = {Exception: problem_response}
