"""The token echo: who the caller is, the cheapest authenticated write (the flash-sale benchmark's ceiling)."""

from __future__ import annotations

from litestar import Request, post

from libs.web.guards import principal_of, requires
from services.live.rooms.views import Caller


@post("/echo", guards=[requires()], tags=["ops"], status_code=200)
async def echo(request: Request) -> Caller:
    """Who the bearer token says the caller is; the cheapest authenticated write (a benchmark's ceiling)."""
    principal = principal_of(request)
    return Caller(sub=principal.sub, role=principal.role)
