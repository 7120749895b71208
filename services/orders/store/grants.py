"""SQL for refund grants: money given back for units of one order, one Stripe Refund each."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.orders.store.checkouts import Conn
from services.orders.views import RefundView


async def grants_of_orders(conn: Conn, order_ids: Sequence[str]) -> dict[str, list[RefundView]]:
    """Each order's refund grants, oldest first (orders without any are absent)."""
    rows = await conn.fetch(
        """SELECT grant_id::text, order_id::text, case_id::text, origin, amount_minor, currency, status,
                  stripe_refund_id, failure_reason, created_at, settled_at
           FROM refund_grants WHERE order_id = ANY($1::uuid[]) ORDER BY created_at, grant_id""",
        list(order_ids),
    )
    found: dict[str, list[RefundView]] = {}
    for row in rows:
        found.setdefault(row["order_id"], []).append(
            RefundView(
                grant_id=row["grant_id"],
                case_id=row["case_id"],
                origin=row["origin"],
                amount_minor=row["amount_minor"],
                currency=row["currency"],
                status=row["status"],
                stripe_refund_id=row["stripe_refund_id"],
                failure_reason=row["failure_reason"],
                created_at=row["created_at"],
                settled_at=row["settled_at"],
            )
        )
    return found


# --- accepting a grant (under the order's row lock) -------------------------------------------------

# The order a grant is for, with the PaymentIntent that took its money and the trace context its checkout was placed in
# (a refund's spans link to it).
_GRANT_ORDER = """
SELECT o.order_id::text, o.checkout_id::text, o.buyer_id, o.merchant_id::text, o.status, o.amount_minor, o.currency,
       o.paid_at, p.stripe_payment_intent_id,
       (SELECT c.trace_headers FROM checkouts c WHERE c.checkout_id = o.checkout_id) AS trace_headers
FROM orders o JOIN payments p ON p.checkout_id = o.checkout_id
WHERE o.order_id = $1
"""


async def lock_order_for_grant(conn: asyncpg.Connection, order_id: str) -> asyncpg.Record | None:
    """The order (locked `FOR UPDATE`: ship, cancel and every grant take this lock first) and its intent."""
    return await conn.fetchrow(f"{_GRANT_ORDER} FOR UPDATE OF o", order_id)


async def order_for_grant(conn: Conn, order_id: str) -> asyncpg.Record | None:
    """The order and its intent, unlocked."""
    return await conn.fetchrow(_GRANT_ORDER, order_id)


async def grant_ledger(conn: Conn, order_id: str) -> tuple[list[asyncpg.Record], int]:
    """The order's lines (with their quantity ledger and what pending + succeeded grants give back for each), and
    the amount of its pending and succeeded grants."""
    lines = await conn.fetch(
        """SELECT l.line_no, l.sku_id::text, l.product_id::text, l.title, l.sku_name, l.quantity, l.unit_price_minor,
                  l.discount_minor, l.amount_minor, l.room_id, l.flash_sale_id::text, l.admission_id::text,
                  l.deal_id::text, l.team_id,
                  l.shipped_qty, l.cancelled_qty, l.refund_requested_qty, l.refunded_qty, l.returned_qty,
                  l.restocked_qty, COALESCE(g.granted, 0) AS granted_amount_minor
           FROM order_lines l
           LEFT JOIN (
               SELECT gl.line_no, sum(gl.amount_minor) AS granted
               FROM refund_grant_lines gl JOIN refund_grants g ON g.grant_id = gl.grant_id
               WHERE gl.order_id = $1 AND g.status IN ('pending', 'succeeded')
               GROUP BY gl.line_no
           ) g ON g.line_no = l.line_no
           WHERE l.order_id = $1 ORDER BY l.line_no""",
        order_id,
    )
    granted = await conn.fetchval(
        """SELECT COALESCE(sum(amount_minor), 0) FROM refund_grants
           WHERE order_id = $1 AND status IN ('pending', 'succeeded')""",
        order_id,
    )
    return list(lines), int(granted)


async def stored_grant_outcome(conn: Conn, grant_id: str) -> tuple[bool, str | None, int] | None:
    """(accepted, refusal reason, amount) of a grant already decided, or None."""
    accepted = await conn.fetchval("SELECT amount_minor FROM refund_grants WHERE grant_id = $1", grant_id)
    if accepted is not None:
        return True, None, int(accepted)
    reason = await conn.fetchval("SELECT reason FROM refused_grants WHERE grant_id = $1", grant_id)
    return (False, str(reason), 0) if reason is not None else None


async def record_refused_grant(
    conn: asyncpg.Connection, grant_id: str, order_id: str, reason: str, now: datetime
) -> bool:
    """Remember a refused grant; False if it already was."""
    return bool(
        await conn.fetchval(
            """INSERT INTO refused_grants (grant_id, order_id, reason, refused_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (grant_id) DO NOTHING RETURNING true""",
            grant_id,
            order_id,
            reason,
            now,
        )
    )


async def insert_grant(
    conn: asyncpg.Connection,
    *,
    grant_id: str,
    order_id: str,
    case_id: str | None,
    origin: str,
    amount_minor: int,
    currency: str,
    intent_id: str,
    lines: Sequence[tuple[int, int, int]],
    now: datetime,
) -> None:
    """A pending grant and its lines (line_no, quantity, amount); the units join the lines' refund_requested_qty."""
    await conn.execute(
        """INSERT INTO refund_grants (grant_id, order_id, case_id, origin, amount_minor, currency, status,
                                      stripe_payment_intent_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)""",
        grant_id,
        order_id,
        case_id,
        origin,
        amount_minor,
        currency,
        intent_id,
        now,
    )
    await conn.execute(
        """INSERT INTO refund_grant_lines (grant_id, order_id, line_no, quantity, amount_minor)
           SELECT $1, $2, l.line_no, l.quantity, l.amount FROM unnest($3::int[], $4::int[], $5::bigint[])
                AS l(line_no, quantity, amount)""",
        grant_id,
        order_id,
        [line for line, _, _ in lines],
        [quantity for _, quantity, _ in lines],
        [amount for _, _, amount in lines],
    )
    await conn.execute(
        """UPDATE order_lines o SET refund_requested_qty = o.refund_requested_qty + l.quantity
           FROM unnest($2::int[], $3::int[]) AS l(line_no, quantity)
           WHERE o.order_id = $1 AND o.line_no = l.line_no""",
        order_id,
        [line for line, _, _ in lines],
        [quantity for _, quantity, _ in lines],
    )


# --- executing a grant --------------------------------------------------------------------------------


async def grant_by_id(conn: Conn, grant_id: str) -> asyncpg.Record | None:
    """A grant with its lines (`lines`: jsonb array of {line_no, quantity, amount_minor})."""
    return await conn.fetchrow(
        """SELECT g.grant_id::text, g.order_id::text, g.case_id::text, g.origin, g.amount_minor, g.currency, g.status,
                  g.stripe_payment_intent_id, g.stripe_refund_id, g.attempts, g.failure_reason,
                  (SELECT jsonb_agg(jsonb_build_object('line_no', line_no, 'quantity', quantity,
                                                       'amount_minor', amount_minor) ORDER BY line_no)
                   FROM refund_grant_lines WHERE grant_id = g.grant_id) AS lines
           FROM refund_grants g WHERE g.grant_id = $1""",
        grant_id,
    )


async def record_refund_attempt(conn: asyncpg.Connection, grant_id: str, error: str) -> int:
    """Count one refused attempt at Stripe; the attempts so far."""
    return int(
        await conn.fetchval(
            """UPDATE refund_grants SET attempts = attempts + 1, last_error = $2
               WHERE grant_id = $1 RETURNING attempts""",
            grant_id,
            error[:1000],
        )
    )


async def settle_grant(
    conn: asyncpg.Connection,
    grant_id: str,
    status: str,
    now: datetime,
    *,
    refund_id: str | None = None,
    failure_reason: str | None = None,
) -> bool:
    """Move a pending grant to succeeded (with its Stripe refund) or failed, and its units in the ledger: refunded,
    or handed back from refund_requested_qty. False (nothing changed) if it was not pending any more."""
    settled = await conn.fetchval(
        """UPDATE refund_grants
           SET status = $2, settled_at = $3, stripe_refund_id = COALESCE($4, stripe_refund_id),
               failure_reason = $5
           WHERE grant_id = $1 AND status = 'pending' RETURNING order_id""",
        grant_id,
        status,
        now,
        refund_id,
        failure_reason,
    )
    if settled is None:
        return False
    succeeded = status == "succeeded"
    await conn.execute(
        """UPDATE order_lines o
           SET refunded_qty = o.refunded_qty + CASE WHEN $2 THEN gl.quantity ELSE 0 END,
               refund_requested_qty = o.refund_requested_qty - CASE WHEN $2 THEN 0 ELSE gl.quantity END
           FROM refund_grant_lines gl
           WHERE gl.grant_id = $1 AND o.order_id = gl.order_id AND o.line_no = gl.line_no""",
        grant_id,
        succeeded,
    )
    return True


# --- returns -----------------------------------------------------------------------------------------


async def add_returned(conn: asyncpg.Connection, order_id: str, lines: Sequence[tuple[int, int, int]]) -> int:
    """Count returned (line_no, quantity, restockable) units in the ledger, bounded by what shipped (returned) and
    by what came back (restocked); the lines changed."""
    return len(
        await conn.fetch(
            """UPDATE order_lines o
               SET returned_qty = LEAST(o.returned_qty + l.quantity, o.shipped_qty),
                   restocked_qty = LEAST(o.restocked_qty + LEAST(l.restockable, l.quantity),
                                         LEAST(o.returned_qty + l.quantity, o.shipped_qty))
               FROM unnest($2::int[], $3::int[], $4::int[]) AS l(line_no, quantity, restockable)
               WHERE o.order_id = $1 AND o.line_no = l.line_no AND l.quantity > 0 AND l.restockable >= 0
               RETURNING o.line_no""",
            order_id,
            [line for line, _, _ in lines],
            [quantity for _, quantity, _ in lines],
            [restockable for _, _, restockable in lines],
        )
    )
