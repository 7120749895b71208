"""What buyers find: a published deal, deals near a point, deals by title. Public: no token needed."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import Parameter

from libs.runtime import Runtime
from services.local_life.use_cases import discovery
from services.local_life.views import NearbyPage, PublicDeal, SearchPage

Lat = Annotated[float, Parameter(ge=-90, le=90, description="degrees north")]
Lng = Annotated[float, Parameter(ge=-180, le=180, description="degrees east")]
Radius = Annotated[int, Parameter(ge=1, le=50_000, description="metres")]
Limit = Annotated[int, Parameter(ge=1, le=50, description="page size")]
Cursor = Annotated[str | None, Parameter(max_length=400, description="`next_cursor` of the previous page")]
Query = Annotated[str, Parameter(min_length=1, max_length=100, description="words of a deal's title")]


@get("/deals/nearby", tags=["deals"])
async def deals_nearby(
    runtime: Runtime, lat: Lat, lng: Lng, radius_m: Radius = 5000, limit: Limit = 20, cursor: Cursor = None
) -> NearbyPage:
    """Published deals with their nearest open store within radius_m: nearest first, `distance_m` great-circle."""
    return await discovery.nearby(runtime, lat=lat, lng=lng, radius_m=radius_m, limit=limit, cursor=cursor)


@get("/deals", tags=["deals"])
async def search_deals(runtime: Runtime, q: Query, limit: Limit = 20, cursor: Cursor = None) -> SearchPage:
    """Published deals whose title matches q (trigram similarity; a substring for one or two letters), best first."""
    return await discovery.search(runtime, q=q, limit=limit, cursor=cursor)


@get("/deals/{deal_id:str}", tags=["deals"])
async def get_deal(deal_id: str, runtime: Runtime) -> PublicDeal:
    """A published deal with the stores it can be used at."""
    return await discovery.public_deal(runtime, deal_id)
