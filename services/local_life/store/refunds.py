"""SQL for voucher refunds and expiry: the vouchers a refund takes (locked), refund rows, voucher moves, verify
tokens swept."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.local_life.domain.refunds import VoucherForRefund

_VOUCHER = """v.voucher_id::text, v.order_id::text, v.line_no, v.unit_no, v.deal_id::text, v.merchant_id::text,
              v.buyer_id, v.status, v.valid_until, v.amount_minor, coalesce(v.currency, d.currency) AS currency,
              d.auto_refund_at_expiry AS auto_refund, v.refund_grant_id::text"""


def _voucher(row: asyncpg.Record) -> VoucherForRefund:
    return VoucherForRefund(**dict(row))


async def lock_units_of(conn: asyncpg.Connection, buyer_id: str, voucher_ids: list[str]) -> list[VoucherForRefund]:
    """The buyer's vouchers of every purchase (unit) the named vouchers belong to, locked in voucher order (the
    order verify locks in, so the two never wait on each other in a cycle)."""
    rows = await conn.fetch(
        f"""SELECT {_VOUCHER} FROM vouchers v JOIN deals d USING (deal_id)
            WHERE v.buyer_id = $1 AND (v.order_id, v.line_no, v.unit_no) IN (
                SELECT order_id, line_no, unit_no FROM vouchers WHERE voucher_id = ANY($2::uuid[]) AND buyer_id = $1)
            ORDER BY v.voucher_id FOR UPDATE OF v""",  # noqa: S608 - fixed columns
        buyer_id,
        voucher_ids,
    )
    return [_voucher(r) for r in rows]


async def lock_line_vouchers(conn: asyncpg.Connection, order_id: str, line_no: int) -> list[VoucherForRefund]:
    """A line's vouchers, locked in voucher order."""
    rows = await conn.fetch(
        f"""SELECT {_VOUCHER} FROM vouchers v JOIN deals d USING (deal_id)
            WHERE v.order_id = $1 AND v.line_no = $2 ORDER BY v.voucher_id FOR UPDATE OF v""",  # noqa: S608
        order_id,
        line_no,
    )
    return [_voucher(r) for r in rows]


async def insert_refund(
    conn: asyncpg.Connection,
    *,
    grant_id: str,
    reason: str,
    order_id: str,
    buyer_id: str,
    merchant_id: str,
    deal_id: str,
    voucher_ids: list[str],
    amount_minor: int,
    currency: str | None,
    now: datetime,
) -> bool:
    """The refund's row, once: False when a refund of this grant id exists."""
    inserted = await conn.fetchval(
        """INSERT INTO voucher_refunds (grant_id, reason, order_id, buyer_id, merchant_id, deal_id, voucher_ids,
                                        amount_minor, currency, requested_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::uuid[], $8, $9, $10) ON CONFLICT (grant_id) DO NOTHING RETURNING true""",
        grant_id,
        reason,
        order_id,
        buyer_id,
        merchant_id,
        deal_id,
        voucher_ids,
        amount_minor,
        currency,
        now,
    )
    return bool(inserted)


async def mark_refund_pending(conn: asyncpg.Connection, voucher_ids: list[str], grant_id: str) -> list[str]:
    """unused → refund_pending under the grant, for those still unused (a redemption that got there first wins)."""
    rows = await conn.fetch(
        """UPDATE vouchers SET status = 'refund_pending', refund_grant_id = $2
           WHERE voucher_id = ANY($1::uuid[]) AND status = 'unused' RETURNING voucher_id::text""",
        voucher_ids,
        grant_id,
    )
    return [r["voucher_id"] for r in rows]


async def failed_refunds_of(conn: asyncpg.Connection, buyer_id: str, voucher_ids: list[str]) -> int:
    """How many refunds of exactly these vouchers this buyer asked for before (all failed, or they would not be
    refundable now): a new keyless refund of them gets a grant id of its own."""
    return await conn.fetchval(
        "SELECT count(*) FROM voucher_refunds WHERE buyer_id = $1 AND voucher_ids = $2::uuid[]",
        buyer_id,
        voucher_ids,
    )


_REFUND = """grant_id::text, reason, order_id::text, buyer_id, merchant_id::text, deal_id::text,
             voucher_ids::text[], amount_minor, currency, status, failure_reason, refunded_minor, requested_at,
             decided_at"""


async def refund(conn: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_REFUND} FROM voucher_refunds WHERE grant_id = $1", grant_id)  # noqa: S608


async def decide_refund(
    conn: asyncpg.Connection,
    grant_id: str,
    *,
    status: str,
    now: datetime,
    failure_reason: str | None = None,
    refunded_minor: int | None = None,
) -> asyncpg.Record | None:
    """pending → succeeded | failed, once: None when the grant is not ours or was decided before."""
    return await conn.fetchrow(
        f"""UPDATE voucher_refunds SET status = $2, decided_at = $3, failure_reason = $4, refunded_minor = $5
            WHERE grant_id = $1 AND status = 'pending' RETURNING {_REFUND}""",  # noqa: S608 - fixed columns
        grant_id,
        status,
        now,
        failure_reason,
        refunded_minor,
    )


async def vouchers_refunded(conn: asyncpg.Connection, grant_id: str, now: datetime) -> list[asyncpg.Record]:
    """refund_pending → refunded for the grant's vouchers."""
    return await conn.fetch(
        """UPDATE vouchers SET status = 'refunded', refunded_at = $2
           WHERE refund_grant_id = $1 AND status = 'refund_pending'
           RETURNING voucher_id::text, line_no, amount_minor""",
        grant_id,
        now,
    )


async def vouchers_back(conn: asyncpg.Connection, grant_id: str, now: datetime) -> list[asyncpg.Record]:
    """A failed refund's vouchers: usable again, or expired if their validity passed meanwhile."""
    return await conn.fetch(
        """UPDATE vouchers
           SET status = CASE WHEN valid_until <= $2 THEN 'expired' ELSE 'unused' END,
               expired_at = CASE WHEN valid_until <= $2 THEN $2::timestamptz END,
               refund_grant_id = NULL
           WHERE refund_grant_id = $1 AND status = 'refund_pending'
           RETURNING voucher_id::text, line_no, status""",
        grant_id,
        now,
    )


async def expire_vouchers(conn: asyncpg.Connection, voucher_ids: list[str], now: datetime) -> list[str]:
    """unused → expired, for those still unused."""
    rows = await conn.fetch(
        """UPDATE vouchers SET status = 'expired', expired_at = $2
           WHERE voucher_id = ANY($1::uuid[]) AND status = 'unused' RETURNING voucher_id::text""",
        voucher_ids,
        now,
    )
    return sorted(r["voucher_id"] for r in rows)


async def issued_lines(conn: asyncpg.Connection, order_id: str, line_nos: list[int]) -> dict[int, asyncpg.Record]:
    """The order's issued lines named, by line number: who bought, whose deal, where it was sold."""
    rows = await conn.fetch(
        """SELECT order_id::text, line_no, deal_id::text, merchant_id::text, buyer_id, room_id, flash_sale_id
           FROM issued_lines WHERE order_id = $1 AND line_no = ANY($2::int[])""",
        order_id,
        line_nos,
    )
    return {r["line_no"]: r for r in rows}


async def job_exists(conn: asyncpg.Connection, kind: str, key: str) -> bool:
    """Whether a due job is stored (a plain read: scheduling one that exists would wait on a concurrent twin)."""
    return bool(await conn.fetchval("SELECT true FROM due_jobs WHERE kind = $1 AND key = $2", kind, key))


async def delete_old_tokens(conn: asyncpg.Connection, before: datetime, limit: int) -> int:
    """Delete up to `limit` verify tokens that expired before `before`; how many went."""
    deleted = await conn.fetch(
        """DELETE FROM verify_tokens WHERE token_hash IN (
               SELECT token_hash FROM verify_tokens WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
           RETURNING 1""",
        before,
        limit,
    )
    return len(deleted)
