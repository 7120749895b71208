"""The replica of orders aftersales judges cases on: paid orders, their lines, shipments, cancels, delivery; and
orders placed or cancelled unpaid (to say why a case on an order with no payment is refused)."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from libs.contracts import (
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    PlacedOrder,
)
from services.aftersales.domain.opening import LineFacts, OrderFacts


async def insert_paid_order(conn: asyncpg.Connection, event: OrderPaid) -> None:
    """A paid order's facts and lines, once (a replay of the same order changes nothing)."""
    inserted = await conn.fetchval(
        """INSERT INTO paid_orders (order_id, buyer_id, merchant_id, amount_minor, currency, lines, paid_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING RETURNING true""",
        event.order_id,
        event.buyer_id,
        event.merchant_id,
        event.amount_minor,
        event.currency,
        event.lines,
        event.paid_at,
    )
    if not inserted:
        return
    # Orders numbers an order's lines 0..n-1 in the order its events list them.
    await conn.executemany(
        """INSERT INTO order_lines (order_id, line_no, sku_id, product_id, quantity) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING""",
        [(event.order_id, n, line.sku_id, line.product_id, line.quantity) for n, line in enumerate(event.lines)],
    )


async def insert_shipped(conn: asyncpg.Connection, event: OrderShipped) -> None:
    """A shipment's units per line, once per shipment (whether or not the payment was heard of yet)."""
    await conn.executemany(
        """INSERT INTO shipped_lines (order_id, shipment_id, line_no, quantity) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING""",
        [(event.order_id, event.shipment_id, s.line_no, s.quantity) for s in event.shipped_lines if s.quantity > 0],
    )


async def insert_cancelled(conn: asyncpg.Connection, event: OrderCancelledAfterPayment) -> None:
    """A cancel's units per line, once per cancel; a whole order's cancel marks the order."""
    await conn.executemany(
        """INSERT INTO cancelled_lines (order_id, grant_id, line_no, quantity) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING""",
        [(event.order_id, event.grant_id, c.line_no, c.quantity) for c in event.cancelled_lines if c.quantity > 0],
    )
    if event.whole_order:
        await conn.execute(
            """INSERT INTO order_progress (order_id, cancelled) VALUES ($1, true)
               ON CONFLICT (order_id) DO UPDATE SET cancelled = true""",
            event.order_id,
        )


async def mark_delivered(conn: asyncpg.Connection, event: OrderDelivered) -> None:
    """When the order was delivered (the first word on it stands)."""
    await conn.execute(
        """INSERT INTO order_progress (order_id, delivered_at) VALUES ($1, $2)
           ON CONFLICT (order_id) DO UPDATE
           SET delivered_at = coalesce(order_progress.delivered_at, EXCLUDED.delivered_at)""",
        event.order_id,
        event.delivered_at,
    )


async def insert_placed(conn: asyncpg.Connection, placed: Sequence[OrderPlaced | PlacedOrder]) -> None:
    """Orders placed, whose and from whom (an order already known, placed or cancelled unpaid, stays as it is)."""
    await conn.execute(
        """INSERT INTO placed_orders (order_id, buyer_id, merchant_id)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[])
           ON CONFLICT (order_id) DO NOTHING""",
        [o.order_id for o in placed],
        [o.buyer_id for o in placed],
        [o.merchant_id for o in placed],
    )


async def mark_cancelled_unpaid(conn: asyncpg.Connection, event: OrderCancelled) -> None:
    """The order was cancelled before it was paid (whether or not its placing was heard of yet)."""
    await conn.execute(
        """INSERT INTO placed_orders (order_id, buyer_id, merchant_id, cancelled_unpaid) VALUES ($1, $2, $3, true)
           ON CONFLICT (order_id) DO UPDATE SET cancelled_unpaid = true""",
        event.order_id,
        event.buyer_id,
        event.merchant_id,
    )


async def cancelled_unpaid(conn: asyncpg.Connection, order_id: str, buyer_id: str) -> bool | None:
    """Whether the buyer's placed order was cancelled unpaid; None if aftersales knows of no such order of theirs."""
    return await conn.fetchval(
        "SELECT cancelled_unpaid FROM placed_orders WHERE order_id = $1 AND buyer_id = $2", order_id, buyer_id
    )


async def order_facts(
    conn: asyncpg.Connection, order_id: str, buyer_id: str, *, lock: bool = False
) -> OrderFacts | None:
    """The buyer's paid order (None if unknown or another's); `lock`: its row FOR UPDATE, serialising openings."""
    row = await conn.fetchrow(
        f"""SELECT o.order_id::text, o.buyer_id, o.merchant_id::text,
                   coalesce(p.cancelled, false) AS cancelled, p.delivered_at
            FROM paid_orders o LEFT JOIN order_progress p USING (order_id)
            WHERE o.order_id = $1 AND o.buyer_id = $2 {"FOR UPDATE OF o" if lock else ""}""",  # noqa: S608
        order_id,
        buyer_id,
    )
    return None if row is None else OrderFacts(**dict(row))


async def line_facts(conn: asyncpg.Connection, order_id: str, released: list[str]) -> dict[int, LineFacts]:
    """Each line of the order: units ordered and shipped, units of cases not `released`, cases ever opened."""
    rows = await conn.fetch(
        """SELECT l.line_no, l.sku_id::text, l.product_id::text, l.quantity,
                  (SELECT coalesce(sum(s.quantity), 0) FROM shipped_lines s
                   WHERE s.order_id = l.order_id AND s.line_no = l.line_no)::int AS shipped,
                  (SELECT coalesce(sum(cl.quantity) FILTER (WHERE c.status <> ALL($2::text[])), 0)
                   FROM case_lines cl JOIN cases c USING (case_id)
                   WHERE cl.order_id = l.order_id AND cl.line_no = l.line_no)::int AS held,
                  (SELECT count(*) FROM case_lines cl
                   WHERE cl.order_id = l.order_id AND cl.line_no = l.line_no)::int AS cases
           FROM order_lines l WHERE l.order_id = $1 ORDER BY l.line_no""",
        order_id,
        released,
    )
    return {row["line_no"]: LineFacts(**dict(row)) for row in rows}
