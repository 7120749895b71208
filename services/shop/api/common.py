"""What the shop's controllers share: field types, who the merchant is, Idempotency-Key writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import asyncpg
import msgspec
from litestar import Request, Response

from libs.db import write_once as write_answered_once
from libs.runtime import Runtime
from libs.web import Problem, idempotency_key, principal_of

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$", description="ISO 4217, upper case")]
# Bounded so a typo cannot overflow the columns (bigint money, int stock).
PriceMinor = Annotated[int, msgspec.Meta(gt=0, le=1_000_000_000_000)]
Stock = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]


def merchant_of(request: Request) -> str:
    """The merchant the caller's token acts for (403 if the token names none)."""
    merchant_id = principal_of(request).merchant_id
    if not merchant_id:
        raise Problem(403, "forbidden", "this merchant token names no merchant_id")
    return merchant_id


async def write_once(
    request: Request,
    runtime: Runtime,
    *,
    scope: str,
    body: msgspec.Struct,
    effect: Callable[[asyncpg.Connection], Awaitable[msgspec.Struct]],
    status: int = 201,
) -> Response:
    """Run a create in one transaction; with an Idempotency-Key a retry gets the first answer back."""
    key = idempotency_key(request, required=False)
    result = await write_answered_once(
        runtime.db, caller=principal_of(request), scope=scope, key=key, request=body, effect=effect
    )
    return Response(content=result, status_code=status)
