"""SQL for the orders schema: writes as conditional updates, and the read views behind GET endpoints."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from libs.contracts import OrderLine
from libs.db import Database
from libs.ids import is_uuid
from services.orders import domain
from services.orders.domain import (
    CHECKOUT_TRANSITIONS,
    ORDER_TRANSITIONS,
    PAYMENT_TRANSITIONS,
    CheckoutPlan,
    CheckoutStatus,
    OrderStatus,
    PaymentStatus,
    RefundReason,
    StoredOrder,
)

Conn = asyncpg.Connection | Database

# Every order read carries its lines, in cart order, as one jsonb array.
_ORDER_SELECT = """
SELECT o.order_id::text, o.checkout_id::text, o.buyer_id, o.merchant_id::text, o.status, o.amount_minor,
       o.currency, o.created_at, o.paid_at, o.cancelled_at, o.cancel_reason,
       COALESCE(l.lines, '[]'::jsonb) AS lines
FROM orders o
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'sku_id', sku_id::text, 'product_id', product_id::text, 'title', title, 'sku_name', sku_name,
               'quantity', quantity, 'unit_price_minor', unit_price_minor, 'amount_minor', amount_minor,
               'room_id', room_id) ORDER BY line_no) AS lines
    FROM order_lines WHERE order_id = o.order_id
) l ON true
"""


def lines_of(row: asyncpg.Record) -> list[OrderLine]:
    return msgspec.convert(row["lines"], list[OrderLine])


def stored_order(row: asyncpg.Record) -> StoredOrder:
    return StoredOrder(
        order_id=row["order_id"],
        checkout_id=row["checkout_id"],
        buyer_id=row["buyer_id"],
        merchant_id=row["merchant_id"],
        status=row["status"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        lines=lines_of(row),
    )


# --- checkout ---------------------------------------------------------------------------------


async def checkout_exists(db: Conn, checkout_id: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM checkouts WHERE checkout_id = $1", checkout_id))


async def insert_checkout(
    conn: asyncpg.Connection,
    plan: CheckoutPlan,
    *,
    buyer_id: str,
    pay_by: datetime,
    now: datetime,
    trace_headers: dict[str, str],
) -> bool:
    """Write the checkout, its orders with their lines, and its payment; False if it already exists."""
    inserted = await conn.fetchval(
        """INSERT INTO checkouts (checkout_id, buyer_id, status, amount_minor, currency, pay_by, room_id,
                                  trace_headers, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (checkout_id) DO NOTHING RETURNING true""",
        plan.checkout_id,
        buyer_id,
        CheckoutStatus.AWAITING_PAYMENT,
        plan.amount_minor,
        plan.currency,
        pay_by,
        plan.room_id,
        trace_headers,
        now,
    )
    if not inserted:
        return False
    await conn.executemany(
        """INSERT INTO orders (order_id, checkout_id, buyer_id, merchant_id, status, amount_minor, currency, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        [
            (
                o.order_id,
                plan.checkout_id,
                buyer_id,
                o.merchant_id,
                OrderStatus.AWAITING_PAYMENT,
                o.amount_minor,
                o.currency,
                now,
            )
            for o in plan.orders
        ],
    )
    await conn.executemany(
        """INSERT INTO order_lines (order_id, line_no, sku_id, product_id, title, sku_name, quantity,
                                    unit_price_minor, amount_minor, room_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        [
            (
                o.order_id,
                n,
                ln.sku_id,
                ln.product_id,
                ln.title,
                ln.sku_name,
                ln.quantity,
                ln.unit_price_minor,
                ln.amount_minor,
                ln.room_id,
            )
            for o in plan.orders
            for n, ln in enumerate(o.lines)
        ],
    )
    await conn.execute(
        """INSERT INTO payments (payment_id, checkout_id, buyer_id, amount_minor, currency, status, created_at,
                                 updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $7)""",
        plan.payment_id,
        plan.checkout_id,
        buyer_id,
        plan.amount_minor,
        plan.currency,
        PaymentStatus.REQUIRES_PAYMENT,
        now,
    )
    return True


async def close_checkout(conn: asyncpg.Connection, checkout_id: str, target: CheckoutStatus, now: datetime) -> bool:
    """Move a checkout on (paid or expired) if the machine allows it from where it is now."""
    column = "paid_at" if target == CheckoutStatus.PAID else "expired_at"
    return bool(
        await conn.fetchval(
            f"""UPDATE checkouts SET status = $2, {column} = $3
                WHERE checkout_id = $1 AND status = ANY($4::text[]) RETURNING true""",  # noqa: S608 - fixed column
            checkout_id,
            target,
            now,
            domain.sources(CHECKOUT_TRANSITIONS, target),
        )
    )


async def lock_checkout(conn: asyncpg.Connection, checkout_id: str) -> asyncpg.Record:
    """The checkout's and its payment's status and the stored intent, both rows locked until the transaction ends."""
    row = await conn.fetchrow(
        """SELECT c.status AS checkout_status, p.status AS payment_status, p.stripe_payment_intent_id
           FROM checkouts c JOIN payments p ON p.checkout_id = c.checkout_id
           WHERE c.checkout_id = $1 FOR UPDATE OF c, p""",
        checkout_id,
    )
    if row is None:
        raise LookupError(f"checkout {checkout_id} has no payment")
    return row


# --- orders -----------------------------------------------------------------------------------


async def pay_orders(conn: asyncpg.Connection, checkout_id: str, now: datetime) -> list[StoredOrder]:
    """Every order of the checkout still awaiting payment becomes paid; returns the ones that moved."""
    rows = await conn.fetch(
        f"""WITH moved AS (
                UPDATE orders SET status = $2, paid_at = $3
                WHERE checkout_id = $1 AND status = ANY($4::text[]) RETURNING order_id)
            {_ORDER_SELECT} JOIN moved m ON m.order_id = o.order_id ORDER BY o.order_id""",  # noqa: S608
        checkout_id,
        OrderStatus.PAID,
        now,
        domain.sources(ORDER_TRANSITIONS, OrderStatus.PAID),
    )
    # The CTE's update is invisible to the outer SELECT of the same statement: report the new state.
    return [dataclasses.replace(o, status=OrderStatus.PAID) for o in map(stored_order, rows)]


async def cancel_orders(conn: asyncpg.Connection, checkout_id: str, reason: str, now: datetime) -> list[StoredOrder]:
    """Every order of the checkout still awaiting payment is cancelled; returns the ones that moved."""
    rows = await conn.fetch(
        f"""WITH moved AS (
                UPDATE orders SET status = $2, cancelled_at = $3, cancel_reason = $4
                WHERE checkout_id = $1 AND status = ANY($5::text[]) RETURNING order_id)
            {_ORDER_SELECT} JOIN moved m ON m.order_id = o.order_id ORDER BY o.order_id""",  # noqa: S608
        checkout_id,
        OrderStatus.CANCELLED,
        now,
        reason,
        domain.sources(ORDER_TRANSITIONS, OrderStatus.CANCELLED),
    )
    return [dataclasses.replace(o, status=OrderStatus.CANCELLED) for o in map(stored_order, rows)]


async def order_rows(
    db: Conn,
    *,
    buyer_id: str | None = None,
    merchant_id: str | None = None,
    order_id: str | None = None,
    checkout_id: str | None = None,
    status: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 100,
) -> list[asyncpg.Record]:
    """Orders newest first, always scoped by whoever asks (buyer or merchant)."""
    conditions, args = [], []
    for column, value in (
        ("o.buyer_id", buyer_id),
        ("o.merchant_id", merchant_id),
        ("o.order_id", order_id),
        ("o.checkout_id", checkout_id),
        ("o.status", status),
    ):
        if value is not None:
            args.append(value)
            conditions.append(f"{column} = ${len(args)}")
    if before is not None:
        args.extend(before)
        conditions.append(f"(o.created_at, o.order_id) < (${len(args) - 1}, ${len(args)}::uuid)")
    args.append(limit)
    where = " AND ".join(conditions) or "true"
    return await db.fetch(
        f"{_ORDER_SELECT} WHERE {where} ORDER BY o.created_at DESC, o.order_id DESC LIMIT ${len(args)}",
        *args,
    )


# --- payments ---------------------------------------------------------------------------------

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
    """The payment a PaymentIntent pays (by its stored id, else by the payment id in its metadata)."""
    # One statement, one snapshot: a concurrent webhook storing this intent on the payment cannot make
    # both lookups miss (the first before its commit, the second after).
    return await db.fetchrow(
        f"""{_PAYMENT_SELECT}
            WHERE p.stripe_payment_intent_id = $1 OR (p.payment_id = $2 AND p.stripe_payment_intent_id IS NULL)
            ORDER BY p.stripe_payment_intent_id IS NULL LIMIT 1""",
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


async def detach_intent(conn: asyncpg.Connection, payment_id: str, intent_id: str, now: datetime) -> bool:
    """Forget a PaymentIntent that took the wrong amount, so the buyer's next attempt creates a new one."""
    return bool(
        await conn.fetchval(
            """UPDATE payments SET stripe_payment_intent_id = NULL, intent_attempt = intent_attempt + 1,
                   updated_at = $3
               WHERE payment_id = $1 AND stripe_payment_intent_id = $2 RETURNING true""",
            payment_id,
            intent_id,
            now,
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


# --- checkout view ----------------------------------------------------------------------------


async def checkout_for_buyer(db: Conn, checkout_id: str, buyer_id: str) -> dict[str, Any] | None:
    """A buyer's own checkout with its payment and orders, or None."""
    row = await db.fetchrow(
        """SELECT c.checkout_id::text, c.status, c.pay_by, c.amount_minor, c.currency,
                  p.payment_id::text, p.amount_minor AS payment_amount_minor, p.currency AS payment_currency,
                  p.status AS payment_status
           FROM checkouts c JOIN payments p ON p.checkout_id = c.checkout_id
           WHERE c.checkout_id = $1 AND c.buyer_id = $2""",
        checkout_id,
        buyer_id,
    )
    if row is None:
        return None
    orders = await order_rows(db, checkout_id=checkout_id, buyer_id=buyer_id)
    return {"checkout": row, "orders": sorted(orders, key=lambda o: o["order_id"])}
