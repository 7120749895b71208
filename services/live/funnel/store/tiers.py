"""SQL of host tiers and customer segments: what they read of the funnel's rollups and facts, and their own tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.live.funnel.domain.tiers import (
    ENGAGEMENT_STEPS,
    VIEW_STEPS,
    Customer,
    CustomerHistory,
    HostFigures,
    HostTier,
    TierChange,
)


async def lock_tiers(conn: asyncpg.Connection, what: str) -> None:
    """One computation of `what` (every host's tiers, one merchant's segments) at a time: a daily run and an
    operator's recompute must not both read the old tiers and both record the same change."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('funnel_tiers:' || $1, 0))", what)


async def host_figures(
    conn: asyncpg.Connection, since: datetime, until: datetime, currency: str
) -> tuple[list[HostFigures], dict[str, HostTier]]:
    """Every host with a rollup minute in [since, until] or a tier already: its figures in `currency` over those
    minutes (zero for one without), and the tiers they had."""
    rows = await conn.fetch(
        """SELECT scope_id AS host_id,
                  COALESCE(sum(n) FILTER (WHERE step = ANY($4::text[])), 0)::bigint AS views,
                  COALESCE(sum(amount_minor) FILTER (WHERE step = 'paid' AND currency = $3), 0)::bigint AS gross,
                  COALESCE(sum(amount_minor) FILTER (WHERE step = 'refund' AND currency = $3), 0)::bigint AS refunded
           FROM funnel_minutes
           WHERE scope = 'host' AND minute >= $1 AND minute <= $2
           GROUP BY scope_id""",
        since,
        until,
        currency,
        list(VIEW_STEPS),
    )
    previous = {r["host_id"]: _tier(r) for r in await conn.fetch("SELECT * FROM host_tiers")}
    found = {
        r["host_id"]: HostFigures(
            host_id=r["host_id"], views=r["views"], gross_paid_minor=r["gross"], refunded_minor=r["refunded"]
        )
        for r in rows
    }
    for host_id in previous.keys() - found.keys():
        found[host_id] = HostFigures(host_id=host_id, views=0, gross_paid_minor=0, refunded_minor=0)
    return [found[host_id] for host_id in sorted(found)], previous


def _tier(row: asyncpg.Record) -> HostTier:
    return HostTier(
        host_id=row["host_id"],
        tier=row["tier"],
        since=row["since"],
        computed_at=row["computed_at"],
        window_from=row["window_from"],
        currency=row["currency"],
        views=row["views"],
        gross_paid_minor=row["gross_paid_minor"],
        refunded_minor=row["refunded_minor"],
        net_minor=row["net_minor"],
        gpm_minor=row["gpm_minor"],
    )


async def save_tiers(conn: asyncpg.Connection, tiers: Sequence[HostTier], previous: dict[str, HostTier]) -> int:
    """Write every host's tier (one multi-row upsert, in host order) and a change row for each new or changed one;
    returns how many changed."""
    await conn.execute(
        """INSERT INTO host_tiers (host_id, tier, since, computed_at, window_from, currency, views,
                                   gross_paid_minor, refunded_minor, net_minor, gpm_minor)
           SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[],
                                $6::text[], $7::bigint[], $8::bigint[], $9::bigint[], $10::bigint[], $11::bigint[])
           ON CONFLICT (host_id) DO UPDATE SET
               tier = EXCLUDED.tier, since = EXCLUDED.since, computed_at = EXCLUDED.computed_at,
               window_from = EXCLUDED.window_from, currency = EXCLUDED.currency, views = EXCLUDED.views,
               gross_paid_minor = EXCLUDED.gross_paid_minor, refunded_minor = EXCLUDED.refunded_minor,
               net_minor = EXCLUDED.net_minor, gpm_minor = EXCLUDED.gpm_minor""",
        [t.host_id for t in tiers],
        [t.tier for t in tiers],
        [t.since for t in tiers],
        [t.computed_at for t in tiers],
        [t.window_from for t in tiers],
        [t.currency for t in tiers],
        [t.views for t in tiers],
        [t.gross_paid_minor for t in tiers],
        [t.refunded_minor for t in tiers],
        [t.net_minor for t in tiers],
        [t.gpm_minor for t in tiers],
    )
    changed = [t for t in tiers if t.host_id not in previous or previous[t.host_id].tier != t.tier]
    await conn.execute(
        """INSERT INTO host_tier_changes (host_id, computed_at, tier, previous_tier, net_minor, gpm_minor)
           SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
           ON CONFLICT DO NOTHING""",
        [t.host_id for t in changed],
        [t.computed_at for t in changed],
        [t.tier for t in changed],
        [previous[t.host_id].tier if t.host_id in previous else None for t in changed],
        [t.net_minor for t in changed],
        [t.gpm_minor for t in changed],
    )
    return len(changed)


async def host_tier(conn: asyncpg.Connection, host_id: str) -> HostTier | None:
    row = await conn.fetchrow("SELECT * FROM host_tiers WHERE host_id = $1", host_id)
    return _tier(row) if row else None


async def tier_changes(conn: asyncpg.Connection, host_id: str, limit: int) -> list[TierChange]:
    """The host's latest tier changes, newest first."""
    rows = await conn.fetch(
        """SELECT computed_at, tier, previous_tier, net_minor, gpm_minor FROM host_tier_changes
           WHERE host_id = $1 ORDER BY computed_at DESC LIMIT $2""",
        host_id,
        limit,
    )
    return [TierChange(**dict(r)) for r in rows]


async def hosts_for(conn: asyncpg.Connection, host_id: str, merchant_id: str) -> bool:
    """The host has hosted a room or published a video for the merchant (rooms' and videos' tables, read in one
    statement: the funnel may read the areas it uses)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM rooms WHERE host_id = $1 AND merchant_id = $2::uuid)
                   OR EXISTS (SELECT 1 FROM videos WHERE host_id = $1 AND merchant_id = $2::uuid)""",
            host_id,
            merchant_id,
        )
    )


# --- customer segments ------------------------------------------------------------------------------------------


async def merchants_with_facts(conn: asyncpg.Connection) -> list[str]:
    """Every merchant the funnel has a rollup minute of, or segments computed for."""
    rows = await conn.fetch(
        """SELECT DISTINCT scope_id AS merchant_id FROM funnel_minutes WHERE scope = 'merchant'
           UNION SELECT merchant_id FROM customer_computations ORDER BY 1"""
    )
    return [r["merchant_id"] for r in rows]


async def merchant_currency(conn: asyncpg.Connection, merchant_id: str, now: datetime) -> str | None:
    """The currency the merchant was last paid in (a merchant sells in one; see "Tiers")."""
    return await conn.fetchval(
        """SELECT currency FROM funnel_facts
           WHERE merchant_id = $1 AND step = 'paid' AND at <= $2 AND currency IS NOT NULL
           ORDER BY at DESC LIMIT 1""",
        merchant_id,
        now,
    )


async def customer_histories(
    conn: asyncpg.Connection, merchant_id: str, now: datetime, year_ago: datetime, currency: str | None
) -> list[CustomerHistory]:
    """What the merchant's facts up to `now` say of each person in them."""
    rows = await conn.fetch(
        """SELECT person_id,
                  max(at) FILTER (WHERE step = 'paid') AS last_paid_at,
                  count(DISTINCT order_id) FILTER (WHERE step = 'paid') AS orders_ever,
                  count(DISTINCT order_id) FILTER (WHERE step = 'paid' AND at >= $3) AS orders_in_year,
                  (COALESCE(sum(amount_minor) FILTER (WHERE step = 'paid' AND at >= $3 AND currency = $4), 0)
                   - COALESCE(sum(amount_minor) FILTER (WHERE step = 'refund' AND at >= $3 AND currency = $4), 0)
                  )::bigint AS net_in_year_minor,
                  max(at) FILTER (WHERE step = ANY($5::text[])) AS last_engaged_at
           FROM funnel_facts
           WHERE merchant_id = $1 AND person_id IS NOT NULL AND at <= $2
           GROUP BY person_id""",
        merchant_id,
        now,
        year_ago,
        currency,
        list(ENGAGEMENT_STEPS),
    )
    return [CustomerHistory(**dict(r)) for r in rows]


async def save_customers(
    conn: asyncpg.Connection, merchant_id: str, customers: Sequence[Customer], now: datetime
) -> None:
    """Replace the merchant's customers with this computation's, and note when it was made."""
    await conn.execute("DELETE FROM customer_segments WHERE merchant_id = $1", merchant_id)
    await conn.execute(
        """INSERT INTO customer_segments (merchant_id, person_id, segment, recency_days, last_paid_at, frequency,
                                          monetary_minor, currency)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::int[], $7::bigint[],
                                    $8::text[])""",
        merchant_id,
        [c.person_id for c in customers],
        [c.segment for c in customers],
        [c.recency_days for c in customers],
        [c.last_paid_at for c in customers],
        [c.frequency for c in customers],
        [c.monetary_minor for c in customers],
        [c.currency for c in customers],
    )
    await conn.execute(
        """INSERT INTO customer_computations (merchant_id, computed_at, customers) VALUES ($1, $2, $3)
           ON CONFLICT (merchant_id)
           DO UPDATE SET computed_at = EXCLUDED.computed_at, customers = EXCLUDED.customers""",
        merchant_id,
        now,
        len(customers),
    )


async def computed_at(conn: asyncpg.Connection, merchant_id: str) -> datetime | None:
    return await conn.fetchval("SELECT computed_at FROM customer_computations WHERE merchant_id = $1", merchant_id)


async def customers(
    conn: asyncpg.Connection, merchant_id: str, segment: str | None, after: tuple[int, str] | None, limit: int
) -> list[Customer]:
    """The merchant's customers (of one segment), most monetary first, then by person id, after the cursor's."""
    monetary, person = after if after else (None, None)
    rows = await conn.fetch(
        """SELECT person_id, segment, recency_days, last_paid_at, frequency, monetary_minor, currency
           FROM customer_segments
           WHERE merchant_id = $1 AND ($2::text IS NULL OR segment = $2)
             AND ($3::bigint IS NULL OR monetary_minor < $3 OR (monetary_minor = $3 AND person_id > $4::text))
           ORDER BY monetary_minor DESC, person_id LIMIT $5""",
        merchant_id,
        segment,
        monetary,
        person,
        limit,
    )
    return [Customer(**dict(r)) for r in rows]
