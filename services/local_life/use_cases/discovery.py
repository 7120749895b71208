"""What buyers find: a published deal, the deals near them, the deals whose title matches."""

from __future__ import annotations

from libs.errors import BadRequest
from libs.ids import canonical_uuid
from libs.runtime import Runtime
from services.local_life.domain import after_nearby, after_search, nearby_cursor, search_cursor
from services.local_life.domain.geo import bounding_box, coordinate
from services.local_life.domain.refusals import DealNotFound
from services.local_life.store import deals as store
from services.local_life.views import NearbyPage, PublicDeal, SearchPage

# Shorter queries have too few trigrams to rank by; they match as a substring.
FUZZY_FROM = 3


async def public_deal(runtime: Runtime, deal_id: str) -> PublicDeal:
    """A published deal and the stores it can be used at (a draft, an ended deal or an unknown id: 404)."""
    found = canonical_uuid(deal_id)
    async with runtime.db.transaction() as conn:
        deal = await store.deal_view(conn, found) if found else None
        if deal is None:
            raise DealNotFound()
        places = await store.places_of(conn, deal.deal_id)
    remaining = deal.total_quantity - deal.sold if deal.total_quantity is not None else None
    return PublicDeal(deal=deal, stores=places, remaining=remaining)


async def nearby(
    runtime: Runtime, *, lat: float, lng: float, radius_m: int, limit: int, cursor: str | None
) -> NearbyPage:
    """Published deals with their nearest open eligible store within radius_m, nearest first (then by deal id)."""
    lat, lng = coordinate(lat), coordinate(lng)
    after = after_nearby(cursor, lat, lng, radius_m) if cursor else None
    async with runtime.db.transaction() as conn:
        items = await store.nearby(
            conn,
            lat=lat,
            lng=lng,
            radius_m=radius_m,
            box=bounding_box(lat, lng, radius_m),
            limit=limit + 1,
            after=after,
        )
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if more else None
    next_cursor = nearby_cursor(lat, lng, radius_m, last.distance_m, last.deal.deal_id) if last else None
    return NearbyPage(items=items, next_cursor=next_cursor)


def _like_pattern(q: str) -> str:
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(runtime: Runtime, *, q: str, limit: int, cursor: str | None) -> SearchPage:
    """Published deals whose title matches q, best match first."""
    q = q.strip()
    if not q:
        raise BadRequest("search for at least one character that is not a space", field="q", code="invalid-q")
    after = after_search(cursor, q) if cursor else None
    async with runtime.db.transaction() as conn:
        items = await store.search(
            conn, q=q, pattern=_like_pattern(q), fuzzy=len(q) >= FUZZY_FROM, limit=limit + 1, after=after
        )
    more = len(items) > limit
    items = items[:limit]
    last = items[-1] if more else None
    return SearchPage(items=items, next_cursor=search_cursor(q, last.score, last.deal.deal_id) if last else None)
