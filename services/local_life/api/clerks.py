"""A clerk's own view: who they are and the store their token is for (the start of redemption)."""

from __future__ import annotations

from litestar import Request, get

from libs.errors import Forbidden
from libs.runtime import Runtime
from libs.web import documented, principal_of, requires
from services.local_life.use_cases import stores
from services.local_life.views import ClerkMe


@get("/clerk/me", guards=[requires("clerk")], tags=["clerk"], opt=documented(Forbidden))
async def clerk_me(request: Request, runtime: Runtime) -> ClerkMe:
    """The clerk and their store; 403 `not-a-clerk-here` unless an active clerk of the store their token names."""
    return await stores.clerk_me(runtime, principal_of(request))
