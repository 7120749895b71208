"""SQL for redemption at the counter: a line's vouchers as a store sees them, verify tokens, redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from services.local_life.domain.redemptions import StoreClock, VoucherAtStore


async def store_clock(conn: asyncpg.Connection, store_id: str) -> StoreClock | None:
    row = await conn.fetchrow("SELECT timezone, opening_hours FROM stores WHERE store_id = $1", store_id)
    return StoreClock(timezone=row["timezone"], opening_hours=row["opening_hours"] or {}) if row else None


async def line_vouchers_at(
    conn: asyncpg.Connection, order_id: str, line_no: int, store_id: str
) -> list[tuple[VoucherAtStore, asyncpg.Record]]:
    """A line's vouchers with the deal's usage terms and whether the deal is for this store; with what a clerk is
    shown of each (masked code, title, validity) and the deal's per-visit limit."""
    rows = await conn.fetch(
        """SELECT v.voucher_id::text, v.status, v.valid_from, v.valid_until, v.code_last4, d.title,
                  d.usage_weekdays, d.usage_hours, d.per_visit_limit,
                  (d.all_stores AND s.merchant_id = d.merchant_id
                   OR EXISTS (SELECT 1 FROM deal_stores ds WHERE ds.deal_id = d.deal_id AND ds.store_id = s.store_id))
                   AS eligible_store
           FROM vouchers v JOIN deals d USING (deal_id) JOIN stores s ON s.store_id = $3
           WHERE v.order_id = $1 AND v.line_no = $2
           ORDER BY v.seq""",
        order_id,
        line_no,
        store_id,
    )
    return [
        (
            VoucherAtStore(
                voucher_id=row["voucher_id"],
                status=row["status"],
                valid_from=row["valid_from"],
                valid_until=row["valid_until"],
                eligible_store=row["eligible_store"],
                usage_weekdays=list(row["usage_weekdays"]),
                usage_hours=row["usage_hours"],
            ),
            row,
        )
        for row in rows
    ]


async def insert_verify_token(
    conn: asyncpg.Connection,
    *,
    token_hash: bytes,
    store_id: str,
    merchant_id: str,
    clerk_id: str,
    voucher_ids: list[str],
    per_visit_limit: int | None,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO verify_tokens (token_hash, store_id, merchant_id, clerk_id, voucher_ids, per_visit_limit,
                                      created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5::uuid[], $6, $7, $8)""",
        token_hash,
        store_id,
        merchant_id,
        clerk_id,
        voucher_ids,
        per_visit_limit,
        now,
        expires_at,
    )


async def lock_verify_token(conn: asyncpg.Connection, token_hash: bytes, store_id: str) -> asyncpg.Record | None:
    """The token at this store, locked: its retries wait for its first verify and read the stored answer."""
    return await conn.fetchrow(
        """SELECT store_id::text, merchant_id::text, voucher_ids::text[], per_visit_limit, expires_at, result
           FROM verify_tokens WHERE token_hash = $1 AND store_id = $2 FOR UPDATE""",
        token_hash,
        store_id,
    )


async def store_token_result(
    conn: asyncpg.Connection, token_hash: bytes, result: Any, clerk_id: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE verify_tokens SET result = $2, verified_at = $3, verified_by = $4 WHERE token_hash = $1",
        token_hash,
        result,
        now,
        clerk_id,
    )


async def redeem_voucher(conn: asyncpg.Connection, voucher_id: str, now: datetime) -> asyncpg.Record | None:
    """unused → redeemed, if it still is unused and valid now; the voucher's source and deal, else None."""
    return await conn.fetchrow(
        """UPDATE vouchers v SET status = 'redeemed', redeemed_at = $2
           FROM issued_lines l
           WHERE v.voucher_id = $1 AND v.status = 'unused' AND v.valid_from <= $2 AND v.valid_until > $2
             AND l.order_id = v.order_id AND l.line_no = v.line_no
           RETURNING v.deal_id::text, v.merchant_id::text, v.order_id::text, v.line_no, l.room_id, l.flash_sale_id,
                     l.trace_headers""",
        voucher_id,
        now,
    )


async def insert_redemption(
    conn: asyncpg.Connection,
    *,
    redemption_id: str,
    voucher_id: str,
    store_id: str,
    clerk_id: str,
    redeemed_at: datetime,
    source: asyncpg.Record,
) -> None:
    await conn.execute(
        """INSERT INTO redemptions (redemption_id, voucher_id, deal_id, merchant_id, store_id, clerk_id, redeemed_at,
                                    order_id, line_no, room_id, flash_sale_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)""",
        redemption_id,
        voucher_id,
        source["deal_id"],
        source["merchant_id"],
        store_id,
        clerk_id,
        redeemed_at,
        source["order_id"],
        source["line_no"],
        source["room_id"],
        source["flash_sale_id"],
    )


_REDEMPTION = """redemption_id::text, voucher_id::text, deal_id::text, merchant_id::text, store_id::text, clerk_id,
                 redeemed_at, order_id::text, line_no, room_id, flash_sale_id, undone_at"""


async def lock_redemption(conn: asyncpg.Connection, redemption_id: str, store_id: str) -> asyncpg.Record | None:
    """A redemption made at this store, locked (an undo and its twin: one undoes, the other sees it undone)."""
    return await conn.fetchrow(
        f"SELECT {_REDEMPTION} FROM redemptions WHERE redemption_id = $1 AND store_id = $2 FOR UPDATE",  # noqa: S608
        redemption_id,
        store_id,
    )


async def undo_redemption(
    conn: asyncpg.Connection, redemption_id: str, clerk_id: str, now: datetime
) -> asyncpg.Record | None:
    """The redemption undone and its voucher usable again (redeemed → unused)."""
    row = await conn.fetchrow(
        f"""UPDATE redemptions SET undone_at = $2, undone_by = $3 WHERE redemption_id = $1 AND undone_at IS NULL
            RETURNING {_REDEMPTION}""",  # noqa: S608 - fixed columns
        redemption_id,
        now,
        clerk_id,
    )
    if row is not None:
        await conn.execute(
            "UPDATE vouchers SET status = 'unused', redeemed_at = NULL WHERE voucher_id = $1 AND status = 'redeemed'",
            row["voucher_id"],
        )
    return row


async def store_redemptions(
    conn: asyncpg.Connection,
    store_id: str,
    since: datetime,
    until: datetime,
    *,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[asyncpg.Record]:
    """The store's redemptions made in [since, until), undone ones too, newest first, with what a clerk is shown of
    each voucher (masked code, deal title) and whether it was settled."""
    return await conn.fetch(
        """SELECT r.redemption_id::text, r.voucher_id::text, v.code_last4, d.title AS deal_title, r.redeemed_at,
                  r.clerk_id, r.undone_at, r.settlement_id IS NOT NULL AS settled
           FROM redemptions r JOIN vouchers v ON v.voucher_id = r.voucher_id JOIN deals d ON d.deal_id = r.deal_id
           WHERE r.store_id = $1 AND r.redeemed_at >= $2 AND r.redeemed_at < $3
             AND ($4::timestamptz IS NULL OR (r.redeemed_at, r.redemption_id) < ($4, $5::uuid))
           ORDER BY r.redeemed_at DESC, r.redemption_id DESC LIMIT $6""",
        store_id,
        since,
        until,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )
