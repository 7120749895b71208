"""SQL for fulfilment: the order row lock and its ledger, shipments, carrier events, the completion clock and the
after-sales cases that stop it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.orders import domain
from services.orders.domain import ORDER_TRANSITIONS, OrderStatus
from services.orders.domain.fulfilment import FulfilledOrder, Ledger, ShipmentStatus
from services.orders.store.checkouts import _ORDER_SELECT, Conn, order_views_of_rows, stored_order
from services.orders.views import OrderView, ShipmentLineView, ShipmentView

# --- the order under its row lock ----------------------------------------------------------------------------------


async def lock_order(
    conn: asyncpg.Connection, order_id: str, *, buyer_id: str | None = None, merchant_id: str | None = None
) -> FulfilledOrder | None:
    """The order with its ledger, its row locked until the transaction ends; None if it is not the caller's."""
    locked = await conn.fetchval(
        """SELECT true FROM orders
           WHERE order_id = $1 AND ($2::text IS NULL OR buyer_id = $2) AND ($3::uuid IS NULL OR merchant_id = $3)
           FOR UPDATE""",
        order_id,
        buyer_id,
        merchant_id,
    )
    if not locked:
        return None
    row = await conn.fetchrow(f"{_ORDER_SELECT} WHERE o.order_id = $1", order_id)
    return _fulfilled(row)


def _fulfilled(row: asyncpg.Record) -> FulfilledOrder:
    return FulfilledOrder(
        order=stored_order(row),
        ledgers=[
            Ledger(
                line_no=line["line_no"],
                sku_id=line["sku_id"],
                quantity=line["quantity"],
                shipped=line["shipped"],
                delivered=line["delivered"],
                cancelled=line["cancelled"],
                refund_requested=line["refund_requested"],
                refunded=line["refunded"],
                returned=line["returned"],
                restocked=line["restocked"],
                flash_sale_id=line["flash_sale_id"],
                deal_id=line.get("deal_id"),
            )
            for line in row["lines"]
        ],
        paid_at=row["paid_at"],
        ship_by=row["ship_by"],
        delivered_at=row["delivered_at"],
        complete_by=row["complete_by"],
        completion_paused_at=row["completion_paused_at"],
    )


async def move_order(conn: asyncpg.Connection, order_id: str, target: OrderStatus) -> bool:
    """Move the order to `target` if the machine allows it from where it is now."""
    return bool(
        await conn.fetchval(
            "UPDATE orders SET status = $2 WHERE order_id = $1 AND status = ANY($3::text[]) RETURNING true",
            order_id,
            target,
            domain.sources(ORDER_TRANSITIONS, target),
        )
    )


async def cancel_paid_order(conn: asyncpg.Connection, order_id: str, reason: str, now: datetime) -> bool:
    """The whole paid order is cancelled (by its buyer, before anything shipped)."""
    return bool(
        await conn.fetchval(
            """UPDATE orders SET status = $2, cancelled_at = $3, cancel_reason = $4
               WHERE order_id = $1 AND status = $5 RETURNING true""",
            order_id,
            OrderStatus.CANCELLED,
            now,
            reason,
            OrderStatus.PAID,
        )
    )


async def deliver_order(
    conn: asyncpg.Connection, order_id: str, now: datetime, complete_by: datetime, paused_at: datetime | None
) -> bool:
    """Shipped → delivered, with its completion deadline (and its clock stopped from `paused_at`, if given)."""
    return bool(
        await conn.fetchval(
            """UPDATE orders SET status = $2, delivered_at = $3, complete_by = $4, completion_paused_at = $5
               WHERE order_id = $1 AND status = ANY($6::text[]) RETURNING true""",
            order_id,
            OrderStatus.DELIVERED,
            now,
            complete_by,
            paused_at,
            domain.sources(ORDER_TRANSITIONS, OrderStatus.DELIVERED),
        )
    )


async def complete_order(conn: asyncpg.Connection, order_id: str, by: str, now: datetime) -> bool:
    return bool(
        await conn.fetchval(
            """UPDATE orders SET status = $2, completed_at = $3, completed_by = $4, completion_paused_at = NULL
               WHERE order_id = $1 AND status = ANY($5::text[]) RETURNING true""",
            order_id,
            OrderStatus.COMPLETED,
            now,
            by,
            domain.sources(ORDER_TRANSITIONS, OrderStatus.COMPLETED),
        )
    )


async def pause_completion(conn: asyncpg.Connection, order_id: str, now: datetime) -> bool:
    """Stop a delivered order's completion clock (an after-sales case opened)."""
    return bool(
        await conn.fetchval(
            """UPDATE orders SET completion_paused_at = $2
               WHERE order_id = $1 AND status = $3 AND completion_paused_at IS NULL RETURNING true""",
            order_id,
            now,
            OrderStatus.DELIVERED,
        )
    )


async def resume_completion(conn: asyncpg.Connection, order_id: str, complete_by: datetime) -> bool:
    """Start the clock again with its deadline moved on (the last case closed)."""
    return bool(
        await conn.fetchval(
            """UPDATE orders SET complete_by = $2, completion_paused_at = NULL
               WHERE order_id = $1 AND status = $3 AND completion_paused_at IS NOT NULL RETURNING true""",
            order_id,
            complete_by,
            OrderStatus.DELIVERED,
        )
    )


async def add_to_ledger(conn: asyncpg.Connection, order_id: str, column: str, lines: Sequence[tuple[int, int]]) -> None:
    """Add each (line_no, quantity) to one ledger column (`shipped_qty`, `cancelled_qty`); the CHECK keeps it sane."""
    if column not in ("shipped_qty", "cancelled_qty"):
        raise ValueError(f"not a ledger column fulfilment moves: {column}")
    await conn.execute(
        f"""UPDATE order_lines l SET {column} = l.{column} + u.quantity
            FROM unnest($2::int[], $3::int[]) AS u(line_no, quantity)
            WHERE l.order_id = $1 AND l.line_no = u.line_no""",  # noqa: S608 - column checked above
        order_id,
        [n for n, _ in lines],
        [q for _, q in lines],
    )


async def count_vouchers_issued(conn: asyncpg.Connection, order_id: str, line_no: int, deal_id: str) -> bool:
    """A deal line's units all count as shipped: its vouchers exist (set, not added: a repeat changes nothing). False
    when the order has no such line of that deal."""
    return bool(
        await conn.fetchval(
            """UPDATE order_lines SET shipped_qty = quantity - cancelled_qty
               WHERE order_id = $1 AND line_no = $2 AND deal_id = $3 RETURNING true""",
            order_id,
            line_no,
            deal_id,
        )
    )


# --- shipments -----------------------------------------------------------------------------------------------------


async def insert_shipment(
    conn: asyncpg.Connection,
    *,
    shipment_id: str,
    order: FulfilledOrder,
    carrier: str,
    tracking_number: str,
    lines: Sequence[tuple[int, int]],
    now: datetime,
) -> bool:
    """Write the shipment and its lines; False (nothing written) if the carrier's tracking number is taken."""
    inserted = await conn.fetchval(
        """INSERT INTO shipments (shipment_id, order_id, merchant_id, buyer_id, carrier, tracking_number, status,
                                  shipped_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING true""",
        shipment_id,
        order.order_id,
        order.order.merchant_id,
        order.order.buyer_id,
        carrier,
        tracking_number,
        ShipmentStatus.SHIPPED,
        now,
    )
    if not inserted:
        return False
    await conn.execute(
        """INSERT INTO shipment_lines (shipment_id, order_id, line_no, quantity)
           SELECT $1, $2, u.line_no, u.quantity FROM unnest($3::int[], $4::int[]) AS u(line_no, quantity)""",
        shipment_id,
        order.order_id,
        [n for n, _ in lines],
        [q for _, q in lines],
    )
    return True


_SHIPMENT_SELECT = """
SELECT s.shipment_id::text, s.order_id::text, s.carrier, s.tracking_number, s.status, s.shipped_at, s.delivered_at,
       COALESCE(l.lines, '[]'::jsonb) AS lines
FROM shipments s
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object('line_no', sl.line_no, 'sku_id', ol.sku_id::text, 'quantity', sl.quantity)
                     ORDER BY sl.line_no) AS lines
    FROM shipment_lines sl JOIN order_lines ol ON ol.order_id = sl.order_id AND ol.line_no = sl.line_no
    WHERE sl.shipment_id = s.shipment_id
) l ON true
"""


def _shipment_view(row: asyncpg.Record) -> ShipmentView:
    return ShipmentView(
        shipment_id=row["shipment_id"],
        order_id=row["order_id"],
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        status=row["status"],
        lines=[ShipmentLineView(**line) for line in row["lines"]],
        shipped_at=row["shipped_at"],
        delivered_at=row["delivered_at"],
    )


async def shipments_of_orders(db: Conn, order_ids: Sequence[str]) -> dict[str, list[ShipmentView]]:
    """Each order's shipments, oldest first (orders without any are absent)."""
    rows = await db.fetch(
        f"{_SHIPMENT_SELECT} WHERE s.order_id = ANY($1::uuid[]) ORDER BY s.shipped_at, s.shipment_id",
        list(order_ids),
    )
    found: dict[str, list[ShipmentView]] = {}
    for row in rows:
        found.setdefault(row["order_id"], []).append(_shipment_view(row))
    return found


async def shipment_of_order(db: Conn, order_id: str, shipment_id: str) -> ShipmentView | None:
    row = await db.fetchrow(
        f"{_SHIPMENT_SELECT} WHERE s.order_id = $1 AND s.shipment_id = $2",
        order_id,
        shipment_id,
    )
    return None if row is None else _shipment_view(row)


async def shipment_by_tracking(db: Conn, carrier: str, tracking_number: str) -> ShipmentView | None:
    row = await db.fetchrow(
        f"{_SHIPMENT_SELECT} WHERE s.carrier = $1 AND s.tracking_number = $2",
        carrier,
        tracking_number,
    )
    return None if row is None else _shipment_view(row)


async def deliver_shipment(conn: asyncpg.Connection, shipment_id: str, now: datetime, by: str) -> bool:
    """Shipped → delivered, its units counted delivered in the ledger; False if it was delivered already."""
    moved = await conn.fetchval(
        """UPDATE shipments SET status = $2, delivered_at = $3, delivered_by = $4
           WHERE shipment_id = $1 AND status = $5 RETURNING true""",
        shipment_id,
        ShipmentStatus.DELIVERED,
        now,
        by,
        ShipmentStatus.SHIPPED,
    )
    if not moved:
        return False
    await conn.execute(
        """UPDATE order_lines l SET delivered_qty = l.delivered_qty + sl.quantity
           FROM shipment_lines sl
           WHERE sl.shipment_id = $1 AND l.order_id = sl.order_id AND l.line_no = sl.line_no""",
        shipment_id,
    )
    return True


async def undelivered_shipments(conn: asyncpg.Connection, order_id: str) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM shipments WHERE order_id = $1 AND status = $2", order_id, ShipmentStatus.SHIPPED
    )


async def record_carrier_event(conn: asyncpg.Connection, event_id: str, carrier: str, now: datetime) -> bool:
    """Remember a carrier event as applied; False if it was before (a replay)."""
    return bool(
        await conn.fetchval(
            """INSERT INTO carrier_events (event_id, carrier, received_at) VALUES ($1, $2, $3)
               ON CONFLICT DO NOTHING RETURNING true""",
            event_id,
            carrier,
            now,
        )
    )


# --- after-sales cases holding completion --------------------------------------------------------------------------


async def open_case(conn: asyncpg.Connection, case_id: str, order_id: str, now: datetime) -> bool:
    """Hold the order for this case; False if it is held already or the case closed before (its close came first)."""
    return bool(
        await conn.fetchval(
            """INSERT INTO open_cases (case_id, order_id, opened_at)
               SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM closed_cases WHERE case_id = $1)
               ON CONFLICT DO NOTHING RETURNING true""",
            case_id,
            order_id,
            now,
        )
    )


async def close_case(conn: asyncpg.Connection, case_id: str, now: datetime) -> bool:
    """The case no longer holds its order (remembered as closed); False if it held nothing."""
    await conn.execute(
        "INSERT INTO closed_cases (case_id, closed_at) VALUES ($1, $2) ON CONFLICT DO NOTHING", case_id, now
    )
    return bool(await conn.fetchval("DELETE FROM open_cases WHERE case_id = $1 RETURNING true", case_id))


async def cases_open(conn: Conn, order_id: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM open_cases WHERE order_id = $1", order_id)


async def order_exists(conn: Conn, order_id: str) -> bool:
    return bool(await conn.fetchval("SELECT true FROM orders WHERE order_id = $1", order_id))


# --- the merchant's queue ------------------------------------------------------------------------------------------


async def orders_to_ship(
    db: Conn, merchant_id: str, *, after: tuple[datetime, str] | None, limit: int, now: datetime
) -> list[OrderView]:
    """The merchant's orders with units to ship (paid or partially shipped, with goods left to ship: never an order
    of local-life deals only), soonest ship_by first."""
    args: list[object] = [merchant_id, [OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED]]
    position = ""
    if after is not None:
        args.extend(after)
        position = "AND (o.ship_by, o.order_id) > ($3, $4::uuid)"
    args.append(limit)
    rows = await db.fetch(
        f"""{_ORDER_SELECT} WHERE o.merchant_id = $1 AND o.status = ANY($2::text[]) {position}
              AND EXISTS (SELECT 1 FROM order_lines s WHERE s.order_id = o.order_id AND s.deal_id IS NULL
                                                        AND s.shipped_qty + s.cancelled_qty < s.quantity)
            ORDER BY o.ship_by, o.order_id LIMIT ${len(args)}""",  # noqa: S608 - fixed text, numbered arguments
        *args,
    )
    return await order_views_of_rows(db, rows, now)
