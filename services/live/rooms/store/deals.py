"""SQL for live's replica of local_life's deals (what a room's bag may hold beside products)."""

from __future__ import annotations

import asyncpg

from libs.contracts import DealState
from services.live.rooms.domain import ReplicaDeal


async def upsert_deal(conn: asyncpg.Connection, event: DealState, deal_id: str, merchant_id: str, status: str) -> bool:
    """Keep the deal as of this event unless a newer one is here or it has ended (ended is final); True if applied."""
    # Newest by local_life's `occurred_at` among published events; an end always wins and nothing follows it, so
    # a republished or late DealPublished never puts an ended deal back on sale.
    applied = await conn.fetchval(
        """INSERT INTO deals (deal_id, merchant_id, title, price_minor, original_value_minor, currency,
                              vouchers_per_purchase, team_size, valid_until, status, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (deal_id) DO UPDATE
               SET merchant_id = EXCLUDED.merchant_id, title = EXCLUDED.title, price_minor = EXCLUDED.price_minor,
                   original_value_minor = EXCLUDED.original_value_minor, currency = EXCLUDED.currency,
                   vouchers_per_purchase = EXCLUDED.vouchers_per_purchase, team_size = EXCLUDED.team_size,
                   valid_until = EXCLUDED.valid_until, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
               WHERE deals.status = 'published'
                 AND (EXCLUDED.status = 'ended' OR deals.updated_at < EXCLUDED.updated_at)
           RETURNING true""",
        deal_id,
        merchant_id,
        event.title,
        event.price_minor,
        event.original_value_minor,
        event.currency.upper(),
        event.vouchers_per_purchase,
        event.team_size,
        event.valid_until,
        status,
        event.occurred_at,
    )
    return bool(applied)


async def fetch_deal(conn: asyncpg.Connection, deal_id: str) -> ReplicaDeal | None:
    row = await conn.fetchrow("SELECT deal_id, merchant_id, status FROM deals WHERE deal_id = $1", deal_id)
    if row is None:
        return None
    return ReplicaDeal(deal_id=str(row["deal_id"]), merchant_id=str(row["merchant_id"]), status=row["status"])
