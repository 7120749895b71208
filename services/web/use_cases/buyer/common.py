"""What the buyer pages' use cases share: which refusals a page shows, listings and their cursors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

from services.web.adapters.apis import ApiRefused, Apis
from services.web.use_cases import showable

SHOWN = (400, 409, 422, 429)


def path_id(value: str) -> str:
    """An id as one segment of an API path."""
    return quote(value, safe="")


def moment(text: str | None) -> datetime | None:
    """An API's ISO 8601 time (or none)."""
    return datetime.fromisoformat(text) if text else None


def shown(refused: ApiRefused) -> ApiRefused:
    """`refused` if a page shows it; otherwise raised (the app's error page)."""
    return showable(refused, SHOWN)


async def listing(call: Callable[[str | None], Awaitable[Any]], cursor: str | None) -> Any:
    """A page of a listing; a cursor the API does not take (tampered, or from before a restart) gives the first."""
    try:
        return await call(cursor)
    except ApiRefused as refused:
        if refused.status != 400 or not cursor:
            raise
        return await call(None)


async def all_pages(apis: Apis, service: str, path: str, token: str, pages: int) -> tuple[list[Any], bool]:
    """Up to `pages` pages of 100 of a listing: (items, whether more were left)."""
    items: list[Any] = []
    cursor: str | None = None
    for _ in range(pages):
        answer = await apis.call(
            service, "GET", path, token, params={"limit": 100} | ({"cursor": cursor} if cursor else {})
        )
        items.extend(answer["items"])
        cursor = answer.get("next_cursor")
        if not cursor:
            return items, False
    return items, True
