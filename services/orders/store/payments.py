"""SQL for payments, Stripe's events and refunds of the orders schema."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from libs.ids import is_uuid
from services.orders import domain
from services.orders.domain import PAYMENT_TRANSITIONS, PaymentStatus, RefundReason
from services.orders.store.checkouts import Conn

_PAYMENT_SELECT = """
SELECT p.payment_id::text, p.checkout_id::text, p.buyer_id, p.amount_minor, p.currency, p.status,
       p.stripe_payment_intent_id, p.stripe_refund_id, p.intent_attempt, c.status AS checkout_status, c.pay_by,
       c.room_id, c.trace_headers
FROM payments p JOIN checkouts c ON c.checkout_id = p.checkout_id
"""


async def payment_for_buyer(db: Conn, payment_id: str, buyer_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_PAYMENT_SELECT} WHERE p.payment_id = $1 AND p.buyer_id = $2", payment_id, buyer_id)


async def payment_by_id(db: Conn, payment_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_PAYMENT_SELECT} WHERE p.payment_id = $1", payment_id)


async def payment_of_checkout(db: Conn, checkout_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_PAYMENT_SELECT} WHERE p.checkout_id = $1", checkout_id)


async def payment_for_intent(db: Conn, intent_id: str, payment_id: str | None) -> asyncpg.Record | None:
    """The payment a PaymentIntent is for (by its stored id, else by the payment id in its metadata: an intent not
    stored yet, or one the payment gave up, whose money must then go back)."""
    # One statement, one snapshot: a concurrent webhook storing this intent on the payment cannot make
    # both lookups miss (the first before its commit, the second after).
    return await db.fetchrow(
        f"""{_PAYMENT_SELECT}
            WHERE p.stripe_payment_intent_id = $1 OR p.payment_id = $2
            ORDER BY p.stripe_payment_intent_id IS NOT DISTINCT FROM $1 DESC LIMIT 1""",
        intent_id,
        payment_id if payment_id and is_uuid(payment_id) else None,
    )


async def attach_intent(db: Conn, payment_id: str, intent_id: str, now: datetime) -> str:
    """Store the PaymentIntent id once; returns whichever id is stored (ours, or a twin's that won)."""
    stored = await db.fetchval(
        """UPDATE payments SET stripe_payment_intent_id = $2, updated_at = $3
           WHERE payment_id = $1 AND stripe_payment_intent_id IS NULL RETURNING stripe_payment_intent_id""",
        payment_id,
        intent_id,
        now,
    )
    if stored is None:
        stored = await db.fetchval("SELECT stripe_payment_intent_id FROM payments WHERE payment_id = $1", payment_id)
    return str(stored)


async def detach_intent(
    conn: Conn, payment_id: str, intent_id: str, now: datetime, *, only_while_open: bool = False
) -> bool:
    """Give up the stored PaymentIntent (it took the wrong amount, takes no more confirmations, or Stripe no longer
    knows it), so the buyer's next attempt creates a new one under the next attempt's key.

    Only the intent still stored is detached: of concurrent callers giving up the same one, one moves the attempt
    on. `only_while_open`: and only while its checkout awaits payment before pay_by (no new intent after that).
    """
    return bool(
        await conn.fetchval(
            """UPDATE payments p SET stripe_payment_intent_id = NULL, intent_attempt = p.intent_attempt + 1,
                   updated_at = $3
               FROM checkouts c
               WHERE p.payment_id = $1 AND p.stripe_payment_intent_id = $2 AND c.checkout_id = p.checkout_id
                 AND (NOT $4 OR (c.status = 'awaiting_payment' AND c.pay_by > $3))
               RETURNING true""",
            payment_id,
            intent_id,
            now,
            only_while_open,
        )
    )


async def move_payment(
    conn: Conn,
    payment_id: str,
    target: PaymentStatus,
    now: datetime,
    *,
    error: str | None = None,
    refund_id: str | None = None,
    intent_id: str | None = None,
) -> bool:
    """Move a payment on if its machine allows it from where it is now."""
    succeeded = target in (PaymentStatus.SUCCEEDED, PaymentStatus.SUCCEEDED_AFTER_CANCEL)
    return bool(
        await conn.fetchval(
            """UPDATE payments SET status = $2, updated_at = $3,
                   last_error = COALESCE($4, last_error),
                   stripe_refund_id = COALESCE($5, stripe_refund_id),
                   stripe_payment_intent_id = COALESCE(stripe_payment_intent_id, $6),
                   succeeded_at = CASE WHEN $7 THEN $3 ELSE succeeded_at END,
                   refunded_at = CASE WHEN $2 = 'refunded' THEN $3 ELSE refunded_at END
               WHERE payment_id = $1 AND status = ANY($8::text[]) RETURNING true""",
            payment_id,
            target,
            now,
            error,
            refund_id,
            intent_id,
            succeeded,
            domain.sources(PAYMENT_TRANSITIONS, target),
        )
    )


async def record_stripe_event(
    conn: asyncpg.Connection, event_id: str, event_type: str, payment_id: str | None, now: datetime
) -> bool:
    """Remember a Stripe event id; False if it was already applied."""
    return bool(
        await conn.fetchval(
            """INSERT INTO stripe_events (event_id, type, payment_id, received_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (event_id) DO NOTHING RETURNING true""",
            event_id,
            event_type,
            payment_id,
            now,
        )
    )


# --- refunds ----------------------------------------------------------------------------------


async def owe_refund(
    conn: asyncpg.Connection,
    intent_id: str,
    payment_id: str,
    reason: RefundReason,
    amount_minor: int | None,
    currency: str | None,
    now: datetime,
) -> bool:
    """Record that the money this PaymentIntent took goes back; False if that is already recorded."""
    return bool(
        await conn.fetchval(
            """INSERT INTO refunds (stripe_payment_intent_id, payment_id, reason, amount_minor, currency, status,
                                    created_at)
               VALUES ($1, $2, $3, $4, $5, 'pending', $6)
               ON CONFLICT (stripe_payment_intent_id) DO NOTHING RETURNING true""",
            intent_id,
            payment_id,
            reason,
            amount_minor,
            currency.upper() if currency else None,
            now,
        )
    )


async def pending_refund(conn: Conn, intent_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT stripe_payment_intent_id, payment_id::text, reason FROM refunds
           WHERE stripe_payment_intent_id = $1 AND status = 'pending'""",
        intent_id,
    )


async def mark_refunded(conn: asyncpg.Connection, intent_id: str, refund_id: str | None, now: datetime) -> bool:
    return bool(
        await conn.fetchval(
            """UPDATE refunds SET status = 'refunded', stripe_refund_id = $2, refunded_at = $3
               WHERE stripe_payment_intent_id = $1 AND status = 'pending' RETURNING true""",
            intent_id,
            refund_id,
            now,
        )
    )


# --- recovery -----------------------------------------------------------------------------------


async def payments_by_ids(db: Conn, payment_ids: list[str]) -> list[asyncpg.Record]:
    """The payments of these ids that exist here (ids that are not UUIDs are left out)."""
    ids = [i for i in payment_ids if is_uuid(i)]
    if not ids:
        return []
    return await db.fetch(f"{_PAYMENT_SELECT} WHERE p.payment_id = ANY($1::uuid[])", ids)


async def mark_intent_requested(db: Conn, payment_id: str, now: datetime) -> None:
    """Say, before asking Stripe for an intent, that one may exist: the orphan sweep looks for it unless recorded."""
    await db.execute(
        "UPDATE payments SET intent_requested_at = $2 WHERE payment_id = $1 AND stripe_payment_intent_id IS NULL",
        payment_id,
        now,
    )


async def unswept_intent_requests(db: Conn, before: datetime, limit: int) -> list[asyncpg.Record]:
    """Intent requests made before `before` that no sweep has looked for yet, oldest first."""
    return await db.fetch(
        """SELECT payment_id::text, intent_requested_at FROM payments
           WHERE intent_requested_at IS NOT NULL AND (intent_swept_at IS NULL OR intent_swept_at < intent_requested_at)
             AND intent_requested_at <= $1
           ORDER BY intent_requested_at LIMIT $2""",
        before,
        limit,
    )


async def mark_swept(db: Conn, requests: list[tuple[str, datetime]], now: datetime) -> None:
    """Record that these requests were looked for (a request made again since is looked for again)."""
    await db.execute(
        """UPDATE payments p SET intent_swept_at = $3
           FROM unnest($1::uuid[], $2::timestamptz[]) AS r(payment_id, requested_at)
           WHERE p.payment_id = r.payment_id AND p.intent_requested_at = r.requested_at""",
        [payment_id for payment_id, _ in requests],
        [requested_at for _, requested_at in requests],
        now,
    )


async def claim_confirm(db: Conn, payment_id: str, now: datetime, until: datetime) -> bool:
    """Claim the payment for one confirm until `until`; False while another confirm's claim holds."""
    return bool(
        await db.fetchval(
            """UPDATE payments SET confirming_until = $3
               WHERE payment_id = $1 AND (confirming_until IS NULL OR confirming_until <= $2) RETURNING true""",
            payment_id,
            now,
            until,
        )
    )


async def release_confirm(db: Conn, payment_id: str, until: datetime) -> None:
    """End this confirm's claim (only its own: a lapsed claim may have been taken by another since)."""
    await db.execute(
        "UPDATE payments SET confirming_until = NULL WHERE payment_id = $1 AND confirming_until = $2", payment_id, until
    )
