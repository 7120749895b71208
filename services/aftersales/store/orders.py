"""The replica of orders aftersales judges cases on: paid orders, their lines, shipments, cancels, delivery; orders
placed or cancelled unpaid (to say why a case on an order with no payment is refused); and, from local_life, deal
lines' vouchers issued, redeemed (or undone) and refunded."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from libs.contracts import (
    DealRefundRequested,
    OrderCancelled,
    OrderCancelledAfterPayment,
    OrderDelivered,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    PlacedOrder,
    RedemptionUndone,
    RefundFailed,
    VoucherRedeemed,
    VouchersIssued,
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
        """INSERT INTO order_lines (order_id, line_no, sku_id, product_id, quantity, deal_id)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        [
            (event.order_id, n, line.sku_id, line.product_id, line.quantity, line.deal_id)
            for n, line in enumerate(event.lines)
        ],
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


async def insert_vouchers_issued(conn: asyncpg.Connection, event: VouchersIssued) -> None:
    """A deal line's vouchers exist, once per line (whether or not the payment was heard of yet)."""
    await conn.execute(
        """INSERT INTO voucher_lines (order_id, line_no, deal_id, vouchers, issued_at, valid_until)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, line_no) DO NOTHING""",
        event.source.order_id,
        event.source.line_no,
        event.deal_id,
        len(event.vouchers),
        event.occurred_at,
        max(v.valid_until for v in event.vouchers),
    )


async def insert_redeemed(conn: asyncpg.Connection, event: VoucherRedeemed) -> None:
    """A voucher of a deal line was redeemed, counted once per redemption (whether or not its undo came first)."""
    await conn.execute(
        """INSERT INTO voucher_redemptions (redemption_id, order_id, line_no, deal_id, voucher_id, redeemed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (redemption_id) DO UPDATE
           SET redeemed_at = coalesce(voucher_redemptions.redeemed_at, EXCLUDED.redeemed_at)""",
        event.redemption_id,
        event.source.order_id,
        event.source.line_no,
        event.deal_id,
        event.voucher_id,
        event.redeemed_at,
    )


async def mark_redemption_undone(conn: asyncpg.Connection, event: RedemptionUndone) -> None:
    """A redemption was undone (kept even if the redemption is not heard of yet: it then never counts)."""
    await conn.execute(
        """INSERT INTO voucher_redemptions (redemption_id, order_id, line_no, deal_id, voucher_id, undone_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (redemption_id) DO UPDATE
           SET undone_at = coalesce(voucher_redemptions.undone_at, EXCLUDED.undone_at)""",
        event.redemption_id,
        event.source.order_id,
        event.source.line_no,
        event.deal_id,
        event.voucher_id,
        event.undone_at,
    )


async def insert_local_refund(conn: asyncpg.Connection, event: DealRefundRequested) -> None:
    """Units of the order's deal lines local_life refunds, once per grant and line."""
    await conn.executemany(
        """INSERT INTO local_refund_lines (grant_id, order_id, line_no, deal_id, quantity) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING""",
        [(event.grant_id, event.order_id, u.line_no, event.deal_id, u.quantity) for u in event.lines if u.quantity > 0],
    )


async def mark_local_refund_failed(conn: asyncpg.Connection, event: RefundFailed) -> None:
    """A grant without a case was not paid: if local_life asked for it, its units were not refunded."""
    await conn.execute(
        "INSERT INTO failed_local_refunds (grant_id, failed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        event.grant_id,
        event.occurred_at,
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
    """Each line of the order: units ordered and shipped, units of cases not `released`, cases ever opened; a deal
    line's vouchers' last day of validity, its vouchers with a live redemption and its units refunded at local_life."""
    rows = await conn.fetch(
        """SELECT l.line_no, l.sku_id::text, l.product_id::text, l.quantity,
                  (SELECT coalesce(sum(s.quantity), 0) FROM shipped_lines s
                   WHERE s.order_id = l.order_id AND s.line_no = l.line_no)::int AS shipped,
                  (SELECT coalesce(sum(cl.quantity) FILTER (WHERE c.status <> ALL($2::text[])), 0)
                   FROM case_lines cl JOIN cases c USING (case_id)
                   WHERE cl.order_id = l.order_id AND cl.line_no = l.line_no)::int AS held,
                  (SELECT count(*) FROM case_lines cl
                   WHERE cl.order_id = l.order_id AND cl.line_no = l.line_no)::int AS cases,
                  l.deal_id IS NOT NULL AS deal, v.valid_until AS window_from,
                  -- A voucher redeemed, undone and redeemed again is one voucher in use, whatever order the
                  -- events came in.
                  (SELECT count(DISTINCT r.voucher_id) FROM voucher_redemptions r
                   WHERE r.order_id = l.order_id AND r.line_no = l.line_no AND r.deal_id = l.deal_id
                     AND r.redeemed_at IS NOT NULL AND r.undone_at IS NULL)::int AS redeemed,
                  (SELECT coalesce(sum(f.quantity), 0) FROM local_refund_lines f
                   WHERE f.order_id = l.order_id AND f.line_no = l.line_no AND f.deal_id = l.deal_id
                     AND NOT EXISTS (SELECT FROM failed_local_refunds x WHERE x.grant_id = f.grant_id))::int
                   AS refunded_at_local_life
           FROM order_lines l
           -- Vouchers, redemptions and refunds count for the line only if they are of the deal it bought.
           LEFT JOIN voucher_lines v ON v.order_id = l.order_id AND v.line_no = l.line_no AND v.deal_id = l.deal_id
           WHERE l.order_id = $1 ORDER BY l.line_no""",
        order_id,
        released,
    )
    return {row["line_no"]: LineFacts(**dict(row)) for row in rows}
