"""SQL for a merchant's reports and settlements: redemptions per store per day, vouchers per deal, what is due."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

# A voucher issued before amounts were recorded has no currency of its own: its deal's is the one it was sold in.
_CURRENCY = "coalesce(v.currency, d.currency)"
# sum() of bigint is numeric: cast back so the amount stays an integer.
_AMOUNT = "coalesce(sum(v.amount_minor), 0)::bigint"


async def redemptions_per_store_day(
    conn: asyncpg.Connection, merchant_id: str, from_day: date, to_day: date, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    """Live (not undone) redemptions of the merchant per store, per day of the store's time zone, per currency,
    between the days given (inclusive); `since`/`until` bound the instants so the index is used."""
    return await conn.fetch(
        f"""SELECT r.store_id::text, s.name AS store_name, s.timezone,
                   (r.redeemed_at AT TIME ZONE s.timezone)::date AS day, {_CURRENCY} AS currency,
                   count(*) AS redemptions, {_AMOUNT} AS amount_minor
            FROM redemptions r JOIN stores s ON s.store_id = r.store_id
                 JOIN vouchers v ON v.voucher_id = r.voucher_id JOIN deals d ON d.deal_id = r.deal_id
            WHERE r.merchant_id = $1 AND r.undone_at IS NULL AND r.redeemed_at >= $4 AND r.redeemed_at < $5
              AND (r.redeemed_at AT TIME ZONE s.timezone)::date BETWEEN $2 AND $3
            GROUP BY 1, 2, 3, 4, 5 ORDER BY day, store_name, store_id, currency""",  # noqa: S608 - fixed text
        merchant_id,
        from_day,
        to_day,
        since,
        until,
    )


async def merchant_owns_deal(conn: asyncpg.Connection, merchant_id: str, deal_id: str) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM deals WHERE deal_id = $1 AND merchant_id = $2", deal_id, merchant_id)
    )


async def vouchers_per_deal(conn: asyncpg.Connection, merchant_id: str, deal_id: str | None) -> list[asyncpg.Record]:
    """The merchant's deals that were ever on sale (or the one named), with their vouchers counted by state."""
    return await conn.fetch(
        """SELECT d.deal_id::text, d.title, count(v.voucher_id) AS sold,
                  count(*) FILTER (WHERE v.status = 'unused') AS unused,
                  count(*) FILTER (WHERE v.status = 'redeemed') AS redeemed,
                  count(*) FILTER (WHERE v.status = 'refund_pending') AS refund_pending,
                  count(*) FILTER (WHERE v.status = 'refunded') AS refunded,
                  count(*) FILTER (WHERE v.status = 'expired') AS expired
           FROM deals d LEFT JOIN vouchers v ON v.deal_id = d.deal_id
           WHERE d.merchant_id = $1 AND ($2::uuid IS NULL AND d.status <> 'draft' OR d.deal_id = $2)
           GROUP BY d.deal_id ORDER BY d.created_at DESC, d.deal_id DESC""",
        merchant_id,
        deal_id,
    )


async def due_totals(conn: asyncpg.Connection, merchant_id: str, cut_at: datetime) -> list[asyncpg.Record]:
    """Per currency: the merchant's redemptions made before `cut_at`, not undone, not settled, and their amount."""
    return await conn.fetch(
        f"""SELECT {_CURRENCY} AS currency, count(*) AS redemptions, {_AMOUNT} AS amount_minor
            FROM redemptions r JOIN vouchers v ON v.voucher_id = r.voucher_id JOIN deals d ON d.deal_id = r.deal_id
            WHERE r.merchant_id = $1 AND r.settlement_id IS NULL AND r.undone_at IS NULL AND r.redeemed_at < $2
            GROUP BY 1 ORDER BY 1""",  # noqa: S608 - fixed text
        merchant_id,
        cut_at,
    )


async def insert_settlement(
    conn: asyncpg.Connection, settlement_id: str, merchant_id: str, cut_at: datetime, now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO settlements (settlement_id, merchant_id, cut_at, created_at) VALUES ($1, $2, $3, $4)",
        settlement_id,
        merchant_id,
        cut_at,
        now,
    )


async def settle_due(
    conn: asyncpg.Connection, settlement_id: str, merchant_id: str, cut_at: datetime, now: datetime
) -> list[asyncpg.Record]:
    """Mark what is due settled under the settlement (a conditional update: an undo or another settlement that got a
    redemption first keeps it) and total what was taken per currency."""
    return await conn.fetch(
        f"""WITH taken AS (
                UPDATE redemptions SET settlement_id = $2, settled_at = $4
                WHERE merchant_id = $1 AND settlement_id IS NULL AND undone_at IS NULL AND redeemed_at < $3
                RETURNING voucher_id, deal_id)
            SELECT {_CURRENCY} AS currency, count(*) AS redemptions, {_AMOUNT} AS amount_minor
            FROM taken t JOIN vouchers v ON v.voucher_id = t.voucher_id JOIN deals d ON d.deal_id = t.deal_id
            GROUP BY 1 ORDER BY 1""",  # noqa: S608 - fixed text
        merchant_id,
        settlement_id,
        cut_at,
        now,
    )


async def insert_totals(conn: asyncpg.Connection, settlement_id: str, totals: list[asyncpg.Record]) -> None:
    await conn.executemany(
        """INSERT INTO settlement_totals (settlement_id, currency, redemptions, amount_minor)
           VALUES ($1, $2, $3, $4)""",
        [(settlement_id, t["currency"], t["redemptions"], t["amount_minor"]) for t in totals],
    )


async def settlements(
    conn: asyncpg.Connection,
    merchant_id: str,
    *,
    settlement_id: str | None = None,
    limit: int = 1,
    after: tuple[datetime, str] | None = None,
) -> list[asyncpg.Record]:
    """The merchant's settlements (or the one named), newest first, each with its totals as JSON."""
    return await conn.fetch(
        """SELECT s.settlement_id::text, s.merchant_id::text, s.cut_at, s.created_at,
                  coalesce((SELECT jsonb_agg(jsonb_build_object('currency', t.currency, 'redemptions', t.redemptions,
                                                                 'amount_minor', t.amount_minor) ORDER BY t.currency)
                            FROM settlement_totals t WHERE t.settlement_id = s.settlement_id), '[]') AS totals
           FROM settlements s
           WHERE s.merchant_id = $1 AND ($2::uuid IS NULL OR s.settlement_id = $2)
             AND ($3::timestamptz IS NULL OR (s.created_at, s.settlement_id) < ($3, $4::uuid))
           ORDER BY s.created_at DESC, s.settlement_id DESC LIMIT $5""",
        merchant_id,
        settlement_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def settlement_of_redemption(conn: asyncpg.Connection, redemption_id: str) -> str | None:
    """The settlement a redemption was paid out in, if any (read after locking the redemption)."""
    return await conn.fetchval("SELECT settlement_id::text FROM redemptions WHERE redemption_id = $1", redemption_id)
