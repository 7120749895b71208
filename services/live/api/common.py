"""What the live controllers share: request types, span attribution, the write helper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import asyncpg
import msgspec
from litestar import Request, Response
from opentelemetry import trace

from libs.auth import Principal
from libs.db import write_once
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from libs.telemetry import names
from libs.web.idempotency import idempotency_key

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
# http(s) only: a cover is shown to every viewer, so no javascript:, data: or ftp: URLs.
CoverUrl = Annotated[str, msgspec.Meta(max_length=2048, pattern=r"^https?://[^\s/?#]+[^\s]*$")]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


def tag_room(room_id: str) -> None:
    """Attribute this request's span to the room (only well-formed ids: the value comes from the client)."""
    parsed = canonical_uuid(room_id)
    if parsed:
        trace.get_current_span().set_attribute(names.ROOM_ID, parsed)


async def write(
    runtime: Runtime,
    request: Request,
    principal: Principal,
    scope: str,
    body: object,
    effect: Callable[[asyncpg.Connection], Awaitable[object]],
    status: int,
) -> Response:
    """Run a write in one transaction; with an Idempotency-Key, a retry gets the first answer back."""
    key = idempotency_key(request, required=False)
    content = await write_once(runtime.db, caller=principal, scope=scope, key=key, request=body, effect=effect)
    return Response(content, status_code=status)
