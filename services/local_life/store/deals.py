"""SQL for deals, the stores they are sold for, and finding them (nearby, by title)."""

from __future__ import annotations

from datetime import datetime

import asyncpg
import msgspec

from services.local_life.domain import DealState, DealTerms
from services.local_life.domain.geo import EARTH_RADIUS_M, Box
from services.local_life.views import DealView, FoundDeal, NearbyDeal, NearStore, PlaceView

TERM_COLUMNS = tuple(DealTerms.__struct_fields__)

_DEAL = """d.deal_id::text, d.merchant_id::text, d.title, d.description, d.price_minor, d.original_value_minor,
           d.currency, d.vouchers_per_purchase, d.valid_from, d.valid_until, d.valid_days, d.usage_weekdays,
           d.usage_hours, d.per_visit_limit, d.total_quantity, d.sold, d.per_buyer_limit, d.auto_refund_at_expiry,
           d.team_size, d.team_window_s, d.all_stores, d.status, d.published_at, d.ended_at, d.created_at,
           d.updated_at,
           coalesce((SELECT array_agg(ds.store_id::text ORDER BY ds.store_id) FROM deal_stores ds
                     WHERE ds.deal_id = d.deal_id), '{}') AS store_ids"""


def _deal(row: asyncpg.Record | dict) -> DealView:
    return msgspec.convert({k: row[k] for k in DealView.__struct_fields__}, DealView)


async def insert_deal(
    conn: asyncpg.Connection, *, deal_id: str, merchant_id: str, terms: DealTerms, store_ids: list[str], now: datetime
) -> None:
    values = [getattr(terms, name) for name in TERM_COLUMNS]
    columns = ", ".join(TERM_COLUMNS)
    params = ", ".join(f"${i + 5}" for i in range(len(values)))
    await conn.execute(
        f"""INSERT INTO deals (deal_id, merchant_id, status, created_at, updated_at, {columns})
            VALUES ($1, $2, $3, $4, $4, {params})""",  # noqa: S608
        deal_id,
        merchant_id,
        "draft",
        now,
        *values,
    )
    await set_stores(conn, deal_id, store_ids)


async def set_stores(conn: asyncpg.Connection, deal_id: str, store_ids: list[str]) -> None:
    """The deal is sold for exactly these stores."""
    await conn.execute("DELETE FROM deal_stores WHERE deal_id = $1", deal_id)
    await conn.executemany(
        "INSERT INTO deal_stores (deal_id, store_id) VALUES ($1, $2)", [(deal_id, s) for s in store_ids]
    )


async def deal_state(conn: asyncpg.Connection, deal_id: str, merchant_id: str, *, lock: bool) -> DealState | None:
    """The merchant's deal as its rules see it (row-locked for a move when asked)."""
    row = await conn.fetchrow(
        f"""SELECT {_DEAL} FROM deals d WHERE d.deal_id = $1 AND d.merchant_id = $2
            {"FOR UPDATE" if lock else ""}""",  # noqa: S608
        deal_id,
        merchant_id,
    )
    if row is None:
        return None
    terms = msgspec.convert({name: row[name] for name in TERM_COLUMNS}, DealTerms)
    return DealState(
        deal_id=row["deal_id"],
        merchant_id=row["merchant_id"],
        status=row["status"],
        terms=terms,
        store_ids=list(row["store_ids"]),
    )


async def update_terms(conn: asyncpg.Connection, deal_id: str, terms: DealTerms, now: datetime) -> None:
    values = [getattr(terms, name) for name in TERM_COLUMNS]
    sets = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(TERM_COLUMNS))
    await conn.execute(
        f"UPDATE deals SET updated_at = $2, {sets} WHERE deal_id = $1 AND status = 'draft'",  # noqa: S608
        deal_id,
        now,
        *values,
    )


async def has_open_store(conn: asyncpg.Connection, deal_id: str) -> bool:
    """Is the deal sold for at least one open store of its merchant's?"""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (
                   SELECT 1 FROM deals d JOIN stores s ON s.merchant_id = d.merchant_id AND s.status = 'open'
                   WHERE d.deal_id = $1
                     AND (d.all_stores OR EXISTS (SELECT 1 FROM deal_stores ds
                                                  WHERE ds.deal_id = d.deal_id AND ds.store_id = s.store_id)))""",
            deal_id,
        )
    )


async def publish(conn: asyncpg.Connection, deal_id: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE deals SET status = 'published', published_at = $2, updated_at = $2
           WHERE deal_id = $1 AND status = 'draft'""",
        deal_id,
        now,
    )


async def end(conn: asyncpg.Connection, deal_id: str, now: datetime) -> None:
    await conn.execute(
        """UPDATE deals SET status = 'ended', ended_at = $2, updated_at = $2
           WHERE deal_id = $1 AND status <> 'ended'""",
        deal_id,
        now,
    )


async def deal_view(conn: asyncpg.Connection, deal_id: str, *, merchant_id: str | None = None) -> DealView | None:
    """A deal of the merchant's; or, with no merchant, a published one (what buyers may see)."""
    row = await conn.fetchrow(
        f"""SELECT {_DEAL} FROM deals d WHERE d.deal_id = $1
            AND (CASE WHEN $2::uuid IS NULL THEN d.status = 'published' ELSE d.merchant_id = $2 END)""",  # noqa: S608
        deal_id,
        merchant_id,
    )
    return _deal(row) if row is not None else None


async def deals_page(
    conn: asyncpg.Connection, merchant_id: str, *, status: str | None, limit: int, after: tuple[datetime, str] | None
) -> list[DealView]:
    """The merchant's deals, newest first, after a position."""
    rows = await conn.fetch(
        f"""SELECT {_DEAL} FROM deals d
            WHERE d.merchant_id = $1 AND ($2::text IS NULL OR d.status = $2)
              AND ($3::timestamptz IS NULL OR (d.created_at, d.deal_id) < ($3, $4::uuid))
            ORDER BY d.created_at DESC, d.deal_id DESC LIMIT $5""",  # noqa: S608
        merchant_id,
        status,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [_deal(row) for row in rows]


async def places_of(conn: asyncpg.Connection, deal_id: str) -> list[PlaceView]:
    """The stores a deal can be used at: those it names, or all its merchant's; open ones first, then by name."""
    rows = await conn.fetch(
        """SELECT s.store_id::text, s.name, s.address, s.lat, s.lng, s.phone, s.timezone, s.opening_hours, s.status
           FROM deals d JOIN stores s ON s.merchant_id = d.merchant_id
           WHERE d.deal_id = $1
             AND (d.all_stores OR EXISTS (SELECT 1 FROM deal_stores ds
                                          WHERE ds.deal_id = d.deal_id AND ds.store_id = s.store_id))
           ORDER BY s.status = 'open' DESC, s.name, s.store_id""",
        deal_id,
    )
    return [msgspec.convert(dict(row), PlaceView) for row in rows]


# Haversine on a sphere of EARTH_RADIUS_M; least() keeps rounding from taking asin past 1 for antipodes.
_DISTANCE = f"""2 * {EARTH_RADIUS_M!r} * asin(least(1.0, sqrt(
    power(sin(radians(s.lat - $1) / 2), 2)
    + cos(radians($1)) * cos(radians(s.lat)) * power(sin(radians(s.lng - $2) / 2), 2))))"""


async def nearby(
    conn: asyncpg.Connection,
    *,
    lat: float,
    lng: float,
    radius_m: float,
    box: Box,
    limit: int,
    after: tuple[float, str] | None,
) -> list[NearbyDeal]:
    """Published deals whose nearest open eligible store is within radius_m: nearest first, then by deal id."""
    ranges = list(box.lng_ranges) + [(None, None)] * (2 - len(box.lng_ranges))
    rows = await conn.fetch(
        f"""WITH near AS (
                SELECT s.store_id, s.merchant_id, s.name, s.address, s.lat, s.lng, {_DISTANCE} AS distance_m
                FROM stores s
                WHERE s.status = 'open' AND s.lat BETWEEN $3 AND $4
                  AND (s.lng BETWEEN $5 AND $6 OR s.lng BETWEEN $7 AND $8)
            ), nearest AS (
                SELECT DISTINCT ON (d.deal_id) d.deal_id, n.store_id, n.name AS store_name, n.address,
                       n.lat, n.lng, n.distance_m
                FROM near n JOIN deals d ON d.merchant_id = n.merchant_id AND d.status = 'published'
                WHERE n.distance_m <= $9
                  AND (d.all_stores OR EXISTS (SELECT 1 FROM deal_stores ds
                                               WHERE ds.deal_id = d.deal_id AND ds.store_id = n.store_id))
                ORDER BY d.deal_id, n.distance_m, n.store_id
            )
            SELECT {_DEAL}, nearest.store_id::text AS near_store_id, nearest.store_name, nearest.address,
                   nearest.lat, nearest.lng, nearest.distance_m
            FROM nearest JOIN deals d ON d.deal_id = nearest.deal_id
            WHERE $10::float8 IS NULL OR (nearest.distance_m, nearest.deal_id) > ($10, $11::uuid)
            ORDER BY nearest.distance_m, nearest.deal_id
            LIMIT $12""",  # noqa: S608
        lat,
        lng,
        box.min_lat,
        box.max_lat,
        ranges[0][0],
        ranges[0][1],
        ranges[1][0],
        ranges[1][1],
        radius_m,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [
        NearbyDeal(
            deal=_deal(row),
            store=NearStore(
                store_id=row["near_store_id"],
                name=row["store_name"],
                address=row["address"],
                lat=row["lat"],
                lng=row["lng"],
            ),
            distance_m=row["distance_m"],
        )
        for row in rows
    ]


async def search(
    conn: asyncpg.Connection, *, q: str, pattern: str, fuzzy: bool, limit: int, after: tuple[float, str] | None
) -> list[FoundDeal]:
    """Published deals whose title matches q, best first: trigram word similarity (fuzzy) or a substring (short q).

    Both go through the GIN trigram index on deals.title (`<%` and ILIKE are among its operators).
    """
    if fuzzy:
        # Typos still match ("ramne" finds "Ramen"); the default 0.6 misses too many of them.
        await conn.execute("SELECT set_config('pg_trgm.word_similarity_threshold', '0.4', true)")
    match = "($1 <% d.title OR d.title ILIKE $2)" if fuzzy else "d.title ILIKE $2"
    rows = await conn.fetch(
        f"""WITH found AS (
                SELECT d.deal_id, (word_similarity($1, d.title) + similarity($1, d.title))::float8 AS score
                FROM deals d WHERE d.status = 'published' AND {match}
            )
            SELECT {_DEAL}, found.score FROM found JOIN deals d ON d.deal_id = found.deal_id
            WHERE $3::float8 IS NULL OR (found.score < $3 OR (found.score = $3 AND found.deal_id > $4::uuid))
            ORDER BY found.score DESC, found.deal_id
            LIMIT $5""",  # noqa: S608
        q,
        pattern,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
    return [FoundDeal(deal=_deal(row), score=row["score"]) for row in rows]
