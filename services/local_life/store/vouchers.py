"""SQL for issued lines and vouchers: issuing, finding one by code or id, the buyer's list."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.local_life.domain.vouchers import DealForIssue


async def deals_for_issue(conn: asyncpg.Connection, deal_ids: list[str]) -> dict[str, DealForIssue]:
    """The deals named (any status: a deal ended after payment still owes its vouchers), by id."""
    rows = await conn.fetch(
        """SELECT deal_id::text, merchant_id::text, vouchers_per_purchase, valid_from, valid_until, valid_days
           FROM deals WHERE deal_id = ANY($1::uuid[])""",
        deal_ids,
    )
    return {row["deal_id"]: DealForIssue(**dict(row)) for row in rows}


async def insert_issued_line(
    conn: asyncpg.Connection,
    *,
    order_id: str,
    line_no: int,
    deal_id: str,
    merchant_id: str,
    buyer_id: str,
    room_id: str | None,
    flash_sale_id: str | None,
    now: datetime,
    trace_headers: dict[str, str],
) -> bool:
    """The line's issue, once: False when it was issued before."""
    row = await conn.fetchrow(
        """INSERT INTO issued_lines (order_id, line_no, deal_id, merchant_id, buyer_id, room_id, flash_sale_id,
                                     issued_at, trace_headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (order_id, line_no) DO NOTHING RETURNING 1""",
        order_id,
        line_no,
        deal_id,
        merchant_id,
        buyer_id,
        room_id,
        flash_sale_id,
        now,
        trace_headers,
    )
    return row is not None


async def insert_vouchers(conn: asyncpg.Connection, rows: list[tuple]) -> None:
    """Vouchers of one line: (voucher_id, order_id, line_no, seq, deal_id, merchant_id, buyer_id, code_hash,
    code_last4, code_sealed, valid_from, valid_until, issued_at, amount_minor, unit_no, currency)."""
    await conn.executemany(
        """INSERT INTO vouchers (voucher_id, order_id, line_no, seq, deal_id, merchant_id, buyer_id, code_hash,
                                 code_last4, code_sealed, valid_from, valid_until, issued_at, amount_minor, unit_no,
                                 currency)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)""",
        rows,
    )


_FOUND = "voucher_id::text, merchant_id::text, order_id::text, line_no"


async def voucher_by_hash(conn: asyncpg.Connection, code_hash: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_FOUND} FROM vouchers WHERE code_hash = $1", code_hash)  # noqa: S608


async def voucher_by_id(conn: asyncpg.Connection, voucher_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_FOUND} FROM vouchers WHERE voucher_id = $1", voucher_id)  # noqa: S608


_BUYER = """v.voucher_id::text, v.deal_id::text, v.merchant_id::text, d.title AS deal_title, v.order_id::text,
            v.line_no, l.room_id, l.flash_sale_id, v.code_hash, v.code_sealed, v.code_last4, v.status, v.valid_from,
            v.valid_until, v.issued_at, v.redeemed_at"""
_BUYER_FROM = """vouchers v JOIN deals d USING (deal_id)
                 JOIN issued_lines l ON l.order_id = v.order_id AND l.line_no = v.line_no"""


async def buyer_vouchers(
    conn: asyncpg.Connection, buyer_id: str, *, limit: int, after: tuple[datetime, str] | None
) -> list[asyncpg.Record]:
    """The buyer's vouchers, newest first, after a position."""
    return await conn.fetch(
        f"""SELECT {_BUYER} FROM {_BUYER_FROM}
            WHERE v.buyer_id = $1
              AND ($2::timestamptz IS NULL OR (v.issued_at, v.voucher_id) < ($2, $3::uuid))
            ORDER BY v.issued_at DESC, v.voucher_id DESC LIMIT $4""",  # noqa: S608 - fixed columns
        buyer_id,
        after[0] if after else None,
        after[1] if after else None,
        limit,
    )


async def buyer_voucher(conn: asyncpg.Connection, buyer_id: str, voucher_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_BUYER} FROM {_BUYER_FROM} WHERE v.voucher_id = $1 AND v.buyer_id = $2",  # noqa: S608
        voucher_id,
        buyer_id,
    )


async def redemptions_of(conn: asyncpg.Connection, voucher_ids: list[str]) -> list[asyncpg.Record]:
    """Every redemption of these vouchers (undone ones too), oldest first, with the store's name."""
    return await conn.fetch(
        """SELECT r.redemption_id::text, r.voucher_id::text, r.store_id::text, s.name AS store_name, r.redeemed_at,
                  r.undone_at
           FROM redemptions r JOIN stores s USING (store_id)
           WHERE r.voucher_id = ANY($1::uuid[]) ORDER BY r.redeemed_at, r.redemption_id""",
        voucher_ids,
    )
