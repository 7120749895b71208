"""SQL for checkouts and orders: writes as conditional updates, and the reads behind GET endpoints (as views)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import msgspec

from libs.contracts import OrderLine
from libs.db import Database
from services.orders import domain
from services.orders.domain import (
    CHECKOUT_TRANSITIONS,
    ORDER_TRANSITIONS,
    CheckoutPlan,
    CheckoutStatus,
    OrderStatus,
    PaymentStatus,
    StoredOrder,
    fulfilment,
)
from services.orders.views import (
    CheckoutOrderView,
    CheckoutView,
    LedgerView,
    LineView,
    OrderView,
    PaymentView,
    RefundView,
    ShipmentView,
)

Conn = asyncpg.Connection | Database

# Every order read carries its payment id and its lines, in cart order, as one jsonb array.
_ORDER_SELECT = """
SELECT o.order_id::text, o.checkout_id::text, o.buyer_id, o.merchant_id::text, o.status, o.subtotal_minor,
       o.discount_minor, o.coupon_id::text, o.amount_minor, o.currency, o.created_at, o.paid_at, o.cancelled_at,
       o.cancel_reason, o.ship_by, o.delivered_at, o.completed_at, o.completed_by, o.complete_by,
       o.completion_paused_at, p.payment_id::text, COALESCE(l.lines, '[]'::jsonb) AS lines
FROM orders o
JOIN payments p ON p.checkout_id = o.checkout_id
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'line_no', line_no,
               'sku_id', sku_id::text, 'product_id', product_id::text, 'title', title, 'sku_name', sku_name,
               'quantity', quantity, 'unit_price_minor', unit_price_minor, 'amount_minor', amount_minor,
               'room_id', room_id, 'discount_minor', discount_minor, 'flash_sale_id', flash_sale_id::text,
               'admission_id', admission_id::text, 'room_verified', room_verified,
               'deal_id', deal_id::text, 'team_id', team_id, 'video_id', video_id,
               'shipped', shipped_qty, 'delivered', delivered_qty, 'cancelled', cancelled_qty,
               'refund_requested', refund_requested_qty, 'refunded', refunded_qty, 'returned', returned_qty,
               'restocked', restocked_qty) ORDER BY line_no) AS lines
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
        coupon_id=row["coupon_id"],
        discount_minor=row["discount_minor"],
    )


# --- checkout ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class NewCheckout:
    """A checkout to write: its plan, whose it is, until when it may be paid, and whether live vouched for the
    rooms its lines name."""

    plan: CheckoutPlan
    buyer_id: str
    pay_by: datetime
    created_at: datetime
    trace_headers: dict[str, str]
    rooms_verified: bool


def line_room_verified(line: OrderLine, rooms_verified: bool) -> bool | None:
    """What a line says of its room: None when it names none, else whether live vouched for the checkout's rooms."""
    return rooms_verified if line.room_id else None


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
    rooms_verified: bool,
) -> bool:
    """Write the checkout, its orders with their lines, and its payment; False if it already exists."""
    return bool(await insert_checkouts(conn, [NewCheckout(plan, buyer_id, pay_by, now, trace_headers, rooms_verified)]))


async def insert_checkouts(conn: asyncpg.Connection, checkouts: Sequence[NewCheckout]) -> list[NewCheckout]:
    """Write many checkouts with their orders, lines and payments, one statement per table; returns the new ones.

    A checkout that already exists (a redelivered flash-sale batch, a concurrent twin) is skipped whole.
    """
    if not checkouts:
        return []
    created = {
        row["checkout_id"]
        for row in await conn.fetch(
            """INSERT INTO checkouts (checkout_id, buyer_id, status, amount_minor, currency, pay_by, room_id,
                                      trace_headers, created_at)
               SELECT c.id, c.buyer_id, $1::text, c.amount, c.currency, c.pay_by, c.room_id, c.headers, c.created_at
               FROM unnest($2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::text[],
                           $8::jsonb[], $9::timestamptz[])
                    AS c(id, buyer_id, amount, currency, pay_by, room_id, headers, created_at)
               ON CONFLICT (checkout_id) DO NOTHING RETURNING checkout_id::text""",
            CheckoutStatus.AWAITING_PAYMENT,
            *_columns(
                (
                    c.plan.checkout_id,
                    c.buyer_id,
                    c.plan.amount_minor,
                    c.plan.currency,
                    c.pay_by,
                    c.plan.room_id,
                    c.trace_headers,
                    c.created_at,
                )
                for c in checkouts
            ),
        )
    }
    new = [c for c in checkouts if c.plan.checkout_id in created]
    if not new:
        return []
    await conn.execute(
        """INSERT INTO orders (order_id, checkout_id, buyer_id, merchant_id, status, subtotal_minor, discount_minor,
                               coupon_id, amount_minor, currency, created_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::bigint[], $7::bigint[],
                                $8::uuid[], $9::bigint[], $10::text[], $11::timestamptz[])""",
        *_columns(
            (
                o.order_id,
                c.plan.checkout_id,
                c.buyer_id,
                o.merchant_id,
                OrderStatus.AWAITING_PAYMENT,
                o.subtotal_minor,
                o.discount_minor,
                o.coupon_id,
                o.amount_minor,
                o.currency,
                c.created_at,
            )
            for c in new
            for o in c.plan.orders
        ),
    )
    await conn.execute(
        """INSERT INTO order_lines (order_id, line_no, sku_id, product_id, title, sku_name, quantity, unit_price_minor,
                                    discount_minor, amount_minor, room_id, flash_sale_id, admission_id,
                                    room_verified, deal_id, team_id, video_id)
           SELECT * FROM unnest($1::uuid[], $2::int[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::int[],
                                $8::bigint[], $9::bigint[], $10::bigint[], $11::text[], $12::uuid[], $13::uuid[],
                                $14::boolean[], $15::uuid[], $16::text[], $17::text[])""",
        *_columns(
            (
                o.order_id,
                n,
                ln.sku_id,
                ln.product_id,
                ln.title,
                ln.sku_name,
                ln.quantity,
                ln.unit_price_minor,
                ln.discount_minor,
                ln.amount_minor,
                ln.room_id,
                ln.flash_sale_id,
                ln.admission_id,
                line_room_verified(ln, c.rooms_verified),
                ln.deal_id,
                ln.team_id,
                ln.video_id,
            )
            for c in new
            for o in c.plan.orders
            for n, ln in enumerate(o.lines)
        ),
    )
    await conn.execute(
        """INSERT INTO payments (payment_id, checkout_id, buyer_id, amount_minor, currency, status, created_at,
                                 updated_at)
           SELECT p.payment_id, p.checkout_id, p.buyer_id, p.amount_minor, p.currency, $1::text, p.created_at,
                  p.created_at
           FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::text[], $7::timestamptz[])
                AS p(payment_id, checkout_id, buyer_id, amount_minor, currency, created_at)""",
        PaymentStatus.REQUIRES_PAYMENT,
        *_columns(
            (c.plan.payment_id, c.plan.checkout_id, c.buyer_id, c.plan.amount_minor, c.plan.currency, c.created_at)
            for c in new
        ),
    )
    return new


def _columns(rows: Any) -> list[list[Any]]:
    """Rows turned into one list per column: the arrays an `unnest` insert takes."""
    return [list(column) for column in zip(*rows, strict=True)]


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
        """SELECT c.status AS checkout_status, p.status AS payment_status, p.stripe_payment_intent_id,
                  p.intent_attempt
           FROM checkouts c JOIN payments p ON p.checkout_id = c.checkout_id
           WHERE c.checkout_id = $1 FOR UPDATE OF c, p""",
        checkout_id,
    )
    if row is None:
        raise LookupError(f"checkout {checkout_id} has no payment")
    return row


# --- orders -----------------------------------------------------------------------------------


async def pay_orders(
    conn: asyncpg.Connection, checkout_id: str, now: datetime, *, ship_by: datetime | None = None
) -> list[StoredOrder]:
    """Every order of the checkout still awaiting payment becomes paid, to ship by `ship_by` (an order of local-life
    deals only has nothing to ship, so no deadline); returns the ones that moved."""
    rows = await conn.fetch(
        f"""WITH moved AS (
                UPDATE orders o SET status = $2, paid_at = $3,
                       ship_by = CASE WHEN EXISTS (SELECT 1 FROM order_lines l
                                                   WHERE l.order_id = o.order_id AND l.deal_id IS NULL)
                                      THEN $5::timestamptz END
                WHERE o.checkout_id = $1 AND o.status = ANY($4::text[]) RETURNING o.order_id)
            {_ORDER_SELECT} JOIN moved m ON m.order_id = o.order_id ORDER BY o.order_id""",  # noqa: S608
        checkout_id,
        OrderStatus.PAID,
        now,
        domain.sources(ORDER_TRANSITIONS, OrderStatus.PAID),
        ship_by,
    )
    # The CTE's update is invisible to the outer SELECT of the same statement: report the new state.
    return [dataclasses.replace(o, status=OrderStatus.PAID) for o in map(stored_order, rows)]


async def cancel_orders(conn: asyncpg.Connection, checkout_id: str, reason: str, now: datetime) -> list[StoredOrder]:
    """Every order of the checkout still awaiting payment is cancelled; returns the ones that moved (a paid order is
    cancelled only by its buyer, `use_cases.fulfilment.cancel_order`)."""
    rows = await conn.fetch(
        f"""WITH moved AS (
                UPDATE orders SET status = $2, cancelled_at = $3, cancel_reason = $4
                WHERE checkout_id = $1 AND status = ANY($5::text[]) RETURNING order_id)
            {_ORDER_SELECT} JOIN moved m ON m.order_id = o.order_id ORDER BY o.order_id""",  # noqa: S608
        checkout_id,
        OrderStatus.CANCELLED,
        now,
        reason,
        [OrderStatus.AWAITING_PAYMENT],
    )
    return [dataclasses.replace(o, status=OrderStatus.CANCELLED) for o in map(stored_order, rows)]


async def order_views(
    db: Conn,
    *,
    buyer_id: str | None = None,
    merchant_id: str | None = None,
    order_id: str | None = None,
    checkout_id: str | None = None,
    status: str | None = None,
    before: tuple[datetime, str] | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> list[OrderView]:
    """Orders newest first, always scoped by whoever asks (buyer or merchant), with their shipments and refunds;
    `late` is judged at `now` (never late without one)."""
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
    rows = await db.fetch(
        f"{_ORDER_SELECT} WHERE {where} ORDER BY o.created_at DESC, o.order_id DESC LIMIT ${len(args)}",
        *args,
    )
    return await order_views_of_rows(db, rows, now)


async def order_views_of_rows(db: Conn, rows: Sequence[asyncpg.Record], now: datetime | None) -> list[OrderView]:
    """Views of rows read with _ORDER_SELECT, each with its shipments and refund grants."""
    # Imported here: both modules read through this one's _ORDER_SELECT and Conn.
    from services.orders.store.fulfilment import shipments_of_orders
    from services.orders.store.grants import grants_of_orders

    order_ids = [row["order_id"] for row in rows]
    shipments = await shipments_of_orders(db, order_ids) if rows else {}
    refunds = await grants_of_orders(db, order_ids) if rows else {}
    return [_order_view(row, now, shipments.get(row["order_id"], []), refunds.get(row["order_id"], [])) for row in rows]


def _order_view(
    row: asyncpg.Record, now: datetime | None, shipments: list[ShipmentView], refunds: list[RefundView]
) -> OrderView:
    lines = []
    for line in row["lines"]:
        ledger = fulfilment.Ledger(
            line_no=line["line_no"],
            sku_id=line["sku_id"],
            quantity=line["quantity"],
            **{k: line.get(k, 0) for k in _LEDGER_COUNTS},
            deal_id=line.get("deal_id"),
        )
        view = msgspec.convert(line, LineView)
        view.ledger = LedgerView(
            ordered=ledger.quantity,
            **{k: getattr(ledger, k) for k in _LEDGER_COUNTS},
            to_ship=ledger.to_ship,
            refundable=ledger.refundable,
            returnable=ledger.returnable,
        )
        lines.append(view)
    to_ship = sum(line.ledger.to_ship for line in lines if line.ledger)
    return OrderView(
        order_id=row["order_id"],
        checkout_id=row["checkout_id"],
        payment_id=row["payment_id"],
        buyer_id=row["buyer_id"],
        merchant_id=row["merchant_id"],
        status=row["status"],
        subtotal_minor=row["subtotal_minor"],
        discount_minor=row["discount_minor"],
        coupon_id=row["coupon_id"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        lines=lines,
        created_at=row["created_at"],
        paid_at=row["paid_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        ship_by=row["ship_by"],
        late=now is not None and fulfilment.is_late(row["status"], row["ship_by"], to_ship, now),
        delivered_at=row["delivered_at"],
        completed_at=row["completed_at"],
        completed_by=row["completed_by"],
        complete_by=row["complete_by"],
        completion_paused=row["completion_paused_at"] is not None,
        shipments=shipments,
        refunds=refunds,
        refunded_minor=sum(r.amount_minor for r in refunds if r.status == "succeeded"),
    )


_LEDGER_COUNTS = ("shipped", "delivered", "cancelled", "refund_requested", "refunded", "returned", "restocked")


# --- checkout view ----------------------------------------------------------------------------


async def checkout_view(db: Conn, checkout_id: str, buyer_id: str) -> CheckoutView | None:
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
    orders = await order_views(db, checkout_id=checkout_id, buyer_id=buyer_id)
    return CheckoutView(
        checkout_id=row["checkout_id"],
        status=row["status"],
        pay_by=row["pay_by"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        payment=PaymentView(
            payment_id=row["payment_id"],
            amount_minor=row["payment_amount_minor"],
            currency=row["payment_currency"],
            status=row["payment_status"],
        ),
        orders=[
            CheckoutOrderView(
                order_id=o.order_id,
                merchant_id=o.merchant_id,
                status=o.status,
                subtotal_minor=o.subtotal_minor,
                discount_minor=o.discount_minor,
                coupon_id=o.coupon_id,
                amount_minor=o.amount_minor,
                currency=o.currency,
                # As placed (what POST /checkout answered, so a replay matches it): fulfilment is the order's.
                lines=[msgspec.structs.replace(line, ledger=None) for line in o.lines],
            )
            for o in sorted(orders, key=lambda o: o.order_id)
        ],
    )
