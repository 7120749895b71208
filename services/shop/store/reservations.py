"""SQL for reservations: holding, committing and releasing units of stock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.contracts import ReservedLine
from services.shop.domain.reservations import StoredReservation
from services.shop.domain.stock import StockLevel
from services.shop.store.catalogue import Conn, level


@dataclass(frozen=True)
class MovedLine:
    """A reservation line that just changed status."""

    sku_id: str
    quantity: int
    merchant_id: str
    order_id: str | None


async def stored(conn: Conn, checkout_id: str) -> StoredReservation | None:
    """An existing reservation with its priced lines in request order and their statuses; None if there is none."""
    head = await conn.fetchrow("SELECT buyer_id, hold_until FROM reservations WHERE checkout_id = $1", checkout_id)
    if head is None:
        return None
    rows = await conn.fetch(
        """SELECT sku_id, product_id, merchant_id, title, sku_name, quantity, unit_price_minor, currency, room_id,
                  video_id, status
             FROM reservation_lines WHERE checkout_id = $1 ORDER BY position""",
        checkout_id,
    )
    lines = [
        ReservedLine(
            sku_id=str(r["sku_id"]),
            product_id=str(r["product_id"]),
            merchant_id=str(r["merchant_id"]),
            title=r["title"],
            sku_name=r["sku_name"],
            quantity=r["quantity"],
            unit_price_minor=r["unit_price_minor"],
            currency=r["currency"],
            room_id=r["room_id"],
            video_id=r["video_id"],
        )
        for r in rows
    ]
    return StoredReservation(
        buyer_id=head["buyer_id"],
        hold_until=head["hold_until"],
        lines=lines,
        line_statuses=[r["status"] for r in rows],
    )


async def open_reservation(
    conn: asyncpg.Connection, checkout_id: str, buyer_id: str, hold_until: datetime, now: datetime
) -> bool:
    """Claim `checkout_id`; False if another reservation already has it.

    A concurrent twin's uncommitted row makes this wait for its outcome, so two retries of one
    checkout never both reserve.
    """
    return bool(
        await conn.fetchval(
            """INSERT INTO reservations (checkout_id, buyer_id, hold_until, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (checkout_id) DO NOTHING RETURNING true""",
            checkout_id,
            buyer_id,
            hold_until,
            now,
        )
    )


async def cart_sources(conn: Conn, buyer_id: str, sku_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The room or video each SKU in the buyer's cart was added from: SKU -> (type, id)."""
    rows = await conn.fetch(
        """SELECT sku_id, source_type, source_id FROM cart_items
            WHERE buyer_id = $1 AND sku_id = ANY($2::uuid[]) AND source_type IN ('room', 'video')""",
        buyer_id,
        list(sku_ids),
    )
    return {str(r["sku_id"]): (r["source_type"], r["source_id"]) for r in rows}


async def hold_units(conn: asyncpg.Connection, sku_id: str, quantity: int) -> StockLevel | None:
    """Reserve `quantity` units if that many are available; None (nothing changed) if not."""
    row = await conn.fetchrow(
        """UPDATE skus SET stock_reserved = stock_reserved + $2
             WHERE sku_id = $1 AND stock_on_hand - stock_reserved >= $2
            RETURNING sku_id, product_id, merchant_id, stock_on_hand, stock_reserved""",
        sku_id,
        quantity,
    )
    return level(row) if row else None


async def available(conn: Conn, sku_id: str) -> int:
    return await conn.fetchval("SELECT stock_on_hand - stock_reserved FROM skus WHERE sku_id = $1", sku_id) or 0


async def insert_lines(conn: asyncpg.Connection, checkout_id: str, lines: Sequence[ReservedLine]) -> None:
    await conn.executemany(
        """INSERT INTO reservation_lines (checkout_id, sku_id, position, quantity, merchant_id, product_id,
                                          title, sku_name, unit_price_minor, currency, room_id, video_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        [
            (
                checkout_id,
                line.sku_id,
                i,
                line.quantity,
                line.merchant_id,
                line.product_id,
                line.title,
                line.sku_name,
                line.unit_price_minor,
                line.currency,
                line.room_id,
                line.video_id,
            )
            for i, line in enumerate(lines)
        ],
    )


async def lock_reservation(conn: asyncpg.Connection, checkout_id: str) -> bool:
    """Serialise everything that moves one checkout's lines (commit, release, expiry); False if unknown.

    Those paths then touch lines and SKUs in one fixed order, so they never deadlock each other.
    """
    return bool(await conn.fetchval("SELECT true FROM reservations WHERE checkout_id = $1 FOR UPDATE", checkout_id))


async def move_lines(
    conn: asyncpg.Connection,
    checkout_id: str,
    sku_ids: Sequence[str] | None,
    *,
    from_status: str,
    to_status: str,
    order_id: str | None,
    now: datetime,
) -> list[MovedLine]:
    """Move lines (all of the checkout's if `sku_ids` is None) from one status to another; each moves once."""
    rows = await conn.fetch(
        """UPDATE reservation_lines
              SET status = $4, order_id = COALESCE(order_id, $5), settled_at = $6
            WHERE checkout_id = $1 AND ($2::uuid[] IS NULL OR sku_id = ANY($2::uuid[])) AND status = $3
           RETURNING sku_id, quantity, merchant_id, order_id""",
        checkout_id,
        list(sku_ids) if sku_ids is not None else None,
        from_status,
        to_status,
        order_id,
        now,
    )
    found = [MovedLine(str(r["sku_id"]), r["quantity"], str(r["merchant_id"]), r["order_id"]) for r in rows]
    return sorted(found, key=lambda s: s.sku_id)


async def commit_units(conn: asyncpg.Connection, sku_id: str, quantity: int) -> StockLevel:
    """Held units leave for good: off the shelf and out of the reserved count together."""
    row = await conn.fetchrow(
        """UPDATE skus SET stock_on_hand = stock_on_hand - $2, stock_reserved = stock_reserved - $2
             WHERE sku_id = $1 RETURNING sku_id, product_id, merchant_id, stock_on_hand, stock_reserved""",
        sku_id,
        quantity,
    )
    return level(row)


async def take_available(conn: asyncpg.Connection, sku_id: str, quantity: int) -> StockLevel | None:
    """Units leave straight from available stock if there are enough; None (nothing changed) if not."""
    row = await conn.fetchrow(
        """UPDATE skus SET stock_on_hand = stock_on_hand - $2
             WHERE sku_id = $1 AND stock_on_hand - stock_reserved >= $2
            RETURNING sku_id, product_id, merchant_id, stock_on_hand, stock_reserved""",
        sku_id,
        quantity,
    )
    return level(row) if row else None


async def release_units(conn: asyncpg.Connection, sku_id: str, quantity: int) -> StockLevel:
    """Held units go back to available stock."""
    row = await conn.fetchrow(
        """UPDATE skus SET stock_reserved = stock_reserved - $2
             WHERE sku_id = $1 RETURNING sku_id, product_id, merchant_id, stock_on_hand, stock_reserved""",
        sku_id,
        quantity,
    )
    return level(row)


async def record_shortfall(
    conn: asyncpg.Connection, checkout_id: str, order_id: str, line: MovedLine, now: datetime
) -> None:
    await conn.execute(
        """INSERT INTO stock_shortfalls (checkout_id, order_id, sku_id, merchant_id, quantity, created_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id, sku_id) DO NOTHING""",
        checkout_id,
        order_id,
        line.sku_id,
        line.merchant_id,
        line.quantity,
        now,
    )


async def attach_order(
    conn: asyncpg.Connection, checkout_id: str, merchant_id: str, sku_ids: Sequence[str], order_id: str
) -> int:
    """Name the order that the merchant's lines of a checkout became; returns how many lines."""
    result = await conn.execute(
        """UPDATE reservation_lines SET order_id = $4
            WHERE checkout_id = $1 AND merchant_id::text = $2 AND sku_id = ANY($3::uuid[])
              AND (order_id IS NULL OR order_id = $4)""",
        checkout_id,
        merchant_id,
        list(sku_ids),
        order_id,
    )
    return int(result.split()[-1])


async def mark_expired(conn: asyncpg.Connection, checkout_id: str) -> None:
    await conn.execute("UPDATE reservations SET status = 'expired' WHERE checkout_id = $1", checkout_id)


async def has_held_lines(conn: asyncpg.Connection, checkout_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM reservation_lines WHERE checkout_id = $1 AND status = 'held' LIMIT 1", checkout_id
        )
    )
