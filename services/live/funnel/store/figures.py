"""SQL reading the funnel's rollups, uniques and facts for one scope (written by the ingest, read only here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.live.funnel.domain.figures import OrderCounts, StepTotal
from services.live.funnel.views import TopProduct

# The column of `funnel_facts` naming each scope (never from a client: the SQL below is built only from these).
_FACT_COLUMN = {
    "room": "room_id",
    "session": "session_id",
    "video": "video_id",
    "sale": "sale_id",
    "host": "host_id",
    "merchant": "merchant_id",
}


async def snapshot(conn: asyncpg.Connection) -> None:
    """Read everything after this from one snapshot (the first statement of the transaction): the ingest commits
    facts and rollups together, and figures read from both must not straddle one of its commits."""
    await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")


async def step_totals(conn: asyncpg.Connection, scope: str, scope_id: str) -> list[StepTotal]:
    """Each step's totals in the scope over all time, per currency."""
    rows = await conn.fetch(
        """SELECT step, currency, sum(n)::bigint AS n, sum(quantity)::bigint AS quantity,
                  sum(amount_minor)::bigint AS amount_minor,
                  sum(watch_s) AS watch_s
           FROM funnel_minutes WHERE scope = $1 AND scope_id = $2
           GROUP BY step, currency""",
        scope,
        scope_id,
    )
    return [_total(row) for row in rows]


async def step_totals_of(conn: asyncpg.Connection, scope: str, scope_ids: Sequence[str]) -> dict[str, list[StepTotal]]:
    """Each step's totals over all time, for each of several scope ids (the sales of a room)."""
    rows = await conn.fetch(
        """SELECT scope_id, step, currency, sum(n)::bigint AS n, sum(quantity)::bigint AS quantity,
                  sum(amount_minor)::bigint AS amount_minor,
                  sum(watch_s) AS watch_s
           FROM funnel_minutes WHERE scope = $1 AND scope_id = ANY($2::text[])
           GROUP BY scope_id, step, currency""",
        scope,
        list(scope_ids),
    )
    out: dict[str, list[StepTotal]] = {scope_id: [] for scope_id in scope_ids}
    for row in rows:
        out[row["scope_id"]].append(_total(row))
    return out


async def minute_totals(
    conn: asyncpg.Connection, scope: str, scope_id: str, since: datetime, until: datetime
) -> list[StepTotal]:
    """Each step's totals per minute in [since, until)."""
    rows = await conn.fetch(
        """SELECT minute, step, currency, n, quantity, amount_minor, watch_s
           FROM funnel_minutes WHERE scope = $1 AND scope_id = $2 AND minute >= $3 AND minute < $4""",
        scope,
        scope_id,
        since,
        until,
    )
    return [_total(row, minute=row["minute"]) for row in rows]


async def last_minute(conn: asyncpg.Connection, scope: str, scope_id: str) -> datetime | None:
    """The scope's latest minute with anything in it."""
    return await conn.fetchval(
        "SELECT max(minute) FROM funnel_minutes WHERE scope = $1 AND scope_id = $2", scope, scope_id
    )


async def uniques(conn: asyncpg.Connection, scope: str, scope_id: str) -> dict[str, int]:
    """Unique viewers, clickers and buyers of the scope, by kind."""
    rows = await conn.fetch(
        "SELECT kind, count(*) AS n FROM funnel_uniques WHERE scope = $1 AND scope_id = $2 GROUP BY kind",
        scope,
        scope_id,
    )
    return {row["kind"]: row["n"] for row in rows}


async def order_counts(conn: asyncpg.Connection, scope: str, scope_id: str) -> OrderCounts:
    """Distinct orders placed and paid in the scope (facts are per line), and the vouchers its paid deals bought."""
    column = _FACT_COLUMN[scope]
    row = await conn.fetchrow(
        f"""SELECT count(DISTINCT f.order_id) FILTER (WHERE f.step = 'order') AS orders,
                   count(DISTINCT f.order_id) FILTER (WHERE f.step = 'paid') AS paid_orders,
                   coalesce(sum(f.quantity * coalesce(d.vouchers_per_purchase, 1))
                            FILTER (WHERE f.step = 'paid' AND f.deal_id IS NOT NULL), 0) AS vouchers_paid
            FROM funnel_facts f LEFT JOIN deals d ON d.deal_id::text = f.deal_id
            WHERE f.{column} = $1 AND f.step IN ('order', 'paid')""",  # noqa: S608 - a fixed column
        scope_id,
    )
    return OrderCounts(orders=row["orders"], paid_orders=row["paid_orders"], vouchers_paid=row["vouchers_paid"])


async def order_counts_by_minute(
    conn: asyncpg.Connection, scope: str, scope_id: str, since: datetime, until: datetime
) -> dict[datetime, OrderCounts]:
    """Distinct orders placed and paid in each minute of [since, until)."""
    column = _FACT_COLUMN[scope]
    rows = await conn.fetch(
        f"""SELECT date_trunc('minute', at) AS minute,
                   count(DISTINCT order_id) FILTER (WHERE step = 'order') AS orders,
                   count(DISTINCT order_id) FILTER (WHERE step = 'paid') AS paid_orders
            FROM funnel_facts
            WHERE {column} = $1 AND step IN ('order', 'paid') AND at >= $2 AND at < $3
            GROUP BY 1""",  # noqa: S608 - a fixed column
        scope_id,
        since,
        until,
    )
    return {row["minute"]: OrderCounts(orders=row["orders"], paid_orders=row["paid_orders"]) for row in rows}


async def sold_in_room(conn: asyncpg.Connection, room_id: str) -> list[TopProduct]:
    """What the room's paid lines sold, per product or deal and currency, with its title where live knows it."""
    rows = await conn.fetch(
        """SELECT f.product_id, f.deal_id, f.currency, sum(f.amount_minor)::bigint AS amount_minor,
                  sum(f.quantity)::bigint AS units, count(DISTINCT f.order_id) AS paid_orders,
                  coalesce(p.title, d.title) AS title
           FROM funnel_facts f
           LEFT JOIN products p ON p.product_id::text = f.product_id
           LEFT JOIN deals d ON d.deal_id::text = f.deal_id
           WHERE f.room_id = $1 AND f.step = 'paid' AND (f.product_id IS NOT NULL OR f.deal_id IS NOT NULL)
           GROUP BY f.product_id, f.deal_id, f.currency, p.title, d.title""",
        room_id,
    )
    return [
        TopProduct(
            product_id=row["product_id"],
            deal_id=row["deal_id"],
            title=row["title"],
            currency=row["currency"] or "",
            gross_paid_minor=row["amount_minor"],
            units=row["units"],
            paid_orders=row["paid_orders"],
        )
        for row in rows
    ]


async def session_of_room(conn: asyncpg.Connection, room_id: str, session_id: str) -> bool:
    """Whether the session is one of the room's."""
    found = await conn.fetchval(
        "SELECT true FROM room_sessions WHERE session_id = $1 AND room_id = $2", session_id, room_id
    )
    return bool(found)


def _total(row: asyncpg.Record, minute: datetime | None = None) -> StepTotal:
    return StepTotal(
        step=row["step"],
        currency=row["currency"],
        n=row["n"],
        quantity=row["quantity"],
        amount_minor=row["amount_minor"],
        watch_s=float(row["watch_s"]),
        minute=minute,
    )
