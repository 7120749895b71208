"""SQL for refund grants: money given back for units of one order, one Stripe Refund each."""

from __future__ import annotations

from collections.abc import Sequence

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
