"""Who may call what: bearer-token middleware and role guards."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Receive, Scope, Send

from libs.auth import Principal, TokenError, VerifiedTokens


class BearerAuthMiddleware:
    """Reads `Authorization: Bearer` into scope['user']; guards decide what a missing one means."""

    def __init__(self, app: ASGIApp, tokens: VerifiedTokens) -> None:
        # One `VerifiedTokens` per app, shared: Litestar builds an instance of this middleware per route.
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["user"] = None
            scope["auth"] = None
            header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token:
                    scope["auth"] = "authorization header must be 'Bearer <token>'"
                else:
                    try:
                        scope["user"] = self.tokens.read(token.strip())
                    except TokenError as exc:
                        scope["auth"] = str(exc)
        await self.app(scope, receive, send)


def principal_of(connection: ASGIConnection) -> Principal:
    """The authenticated caller, or 401."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):
        reason = connection.scope.get("auth") or "missing bearer token"
        raise NotAuthorizedException(detail=str(reason), headers={"WWW-Authenticate": 'Bearer realm="liveloop"'})
    return user


def requires(*roles: str):
    """Guard: the caller must hold one of `roles` (401 without a valid token, 403 with the wrong role)."""

    # Async on purpose: Litestar runs a sync guard in its thread pool, a hop per request for a dict lookup.
    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        principal = principal_of(connection)
        if roles and principal.role not in roles:
            raise PermissionDeniedException(detail=f"requires role {' or '.join(roles)}, token has {principal.role}")

    # Read by libs.web.openapi: the route needs a bearer token (401) of these roles (403).
    guard.roles = roles  # type: ignore[attr-defined]
    return guard


async def _authorize(handler: BaseRouteHandler, connection: ASGIConnection) -> None:
    for guard in handler.resolve_guards():
        await guard(connection, handler)


def guard_without_copies(handlers: Iterable[BaseRouteHandler]) -> None:
    """Run each handler's guards as Litestar does, but without its `copy(handler)` per guard per request.

    Litestar hands every guard a shallow copy of the route handler (`BaseRouteHandler.authorize_connection`), so that
    a guard cannot change the handler; copying that object was 8% of live's CPU per authenticated `/echo` (py-spy,
    docs/PERFORMANCE.md). Our guards (`requires`) never look at the handler. Should a Litestar release stop calling
    `authorize_connection`, this does nothing and the guards still run: slower, never skipped.
    """
    for handler in handlers:
        if handler.resolve_guards():
            # An instance attribute shadows the method on this handler only (route handlers keep a __dict__).
            handler.authorize_connection = functools.partial(_authorize, handler)  # type: ignore[method-assign]
