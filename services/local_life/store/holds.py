"""SQL for deal holds: claiming a checkout, counting a deal's units, holding, committing and releasing them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.contracts import ReservedDeal
from services.local_life.domain.holds import DealFacts, StoredHolds

Conn = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class MovedHold:
    """A hold that just changed status."""

    deal_id: str
    quantity: int


async def stored(conn: Conn, checkout_id: str) -> StoredHolds | None:
    """A checkout's holds with their priced lines in request order and statuses; None if it never reserved here."""
    head = await conn.fetchrow("SELECT buyer_id, hold_until FROM deal_checkouts WHERE checkout_id = $1", checkout_id)
    if head is None:
        return None
    rows = await conn.fetch(
        """SELECT deal_id::text, merchant_id::text, title, quantity, unit_price_minor, currency, room_id, status,
                  team_id::text, team_size
             FROM deal_holds WHERE checkout_id = $1 ORDER BY position""",
        checkout_id,
    )
    lines = [
        ReservedDeal(
            deal_id=r["deal_id"],
            merchant_id=r["merchant_id"],
            title=r["title"],
            quantity=r["quantity"],
            unit_price_minor=r["unit_price_minor"],
            currency=r["currency"].strip(),
            room_id=r["room_id"],
            team_id=r["team_id"],
            team_size=r["team_size"],
        )
        for r in rows
    ]
    return StoredHolds(
        buyer_id=head["buyer_id"], hold_until=head["hold_until"], lines=lines, statuses=[r["status"] for r in rows]
    )


async def claim_checkout(
    conn: asyncpg.Connection, checkout_id: str, buyer_id: str, hold_until: datetime, now: datetime
) -> bool:
    """Claim `checkout_id`; False if another reserve already has it.

    A concurrent twin's uncommitted row makes this wait for its outcome, so two retries of one checkout never both
    hold.
    """
    return bool(
        await conn.fetchval(
            """INSERT INTO deal_checkouts (checkout_id, buyer_id, hold_until, created_at) VALUES ($1, $2, $3, $4)
               ON CONFLICT (checkout_id) DO NOTHING RETURNING true""",
            checkout_id,
            buyer_id,
            hold_until,
            now,
        )
    )


async def lock_deal(conn: asyncpg.Connection, deal_id: str) -> DealFacts | None:
    """The deal, row-locked until the transaction ends (callers lock in deal id order); None if there is none.

    FOR NO KEY UPDATE, as the `sold` update itself takes: it still serialises reserves, but not the foreign-key checks
    of rows naming the deal (a team filling issues vouchers under its team lock while a reserve holding this lock waits
    for that team: FOR UPDATE would deadlock them)."""
    row = await conn.fetchrow(
        """SELECT deal_id::text, merchant_id::text, title, price_minor, currency, status, total_quantity, sold,
                  per_buyer_limit, team_size, team_window_s
             FROM deals WHERE deal_id = $1 FOR NO KEY UPDATE""",
        deal_id,
    )
    if row is None:
        return None
    return DealFacts(**{**dict(row), "currency": row["currency"].strip()})


async def buyer_units(conn: asyncpg.Connection, deal_id: str, buyer_id: str) -> int:
    """The buyer's held and committed units of a deal."""
    return await conn.fetchval(
        """SELECT coalesce(sum(quantity), 0) FROM deal_holds
            WHERE deal_id = $1 AND buyer_id = $2 AND status IN ('held', 'committed')""",
        deal_id,
        buyer_id,
    )


async def add_sold(conn: asyncpg.Connection, deal_id: str, quantity: int) -> bool:
    """Count `quantity` more units sold if the deal has that many left; False (nothing changed) if not."""
    return bool(
        await conn.fetchval(
            """UPDATE deals SET sold = sold + $2
                WHERE deal_id = $1 AND (total_quantity IS NULL OR sold + $2 <= total_quantity)
               RETURNING true""",
            deal_id,
            quantity,
        )
    )


async def remove_sold(conn: asyncpg.Connection, deal_id: str, quantity: int) -> None:
    """Released units are for sale again."""
    await conn.execute("UPDATE deals SET sold = sold - $2 WHERE deal_id = $1", deal_id, quantity)


async def insert_holds(
    conn: asyncpg.Connection,
    checkout_id: str,
    buyer_id: str,
    lines: Sequence[ReservedDeal],
    hold_until: datetime,
    now: datetime,
) -> None:
    await conn.executemany(
        """INSERT INTO deal_holds (checkout_id, deal_id, position, buyer_id, quantity, room_id, merchant_id, title,
                                   unit_price_minor, currency, hold_until, created_at, team_id, team_size)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        [
            (
                checkout_id,
                line.deal_id,
                i,
                buyer_id,
                line.quantity,
                line.room_id,
                line.merchant_id,
                line.title,
                line.unit_price_minor,
                line.currency,
                hold_until,
                now,
                line.team_id,
                line.team_size,
            )
            for i, line in enumerate(lines)
        ],
    )


async def lock_checkout(conn: asyncpg.Connection, checkout_id: str) -> bool:
    """Serialise everything that moves one checkout's holds (commit, release, expiry); False if unknown here."""
    return bool(await conn.fetchval("SELECT true FROM deal_checkouts WHERE checkout_id = $1 FOR UPDATE", checkout_id))


async def move_holds(
    conn: asyncpg.Connection,
    checkout_id: str,
    deal_ids: Sequence[str] | None,
    *,
    from_status: str,
    to_status: str,
    order_id: str | None,
    now: datetime,
) -> list[MovedHold]:
    """Move holds (all of the checkout's if `deal_ids` is None) from one status to another, each once; sorted by deal
    (the order their deals are then touched in)."""
    rows = await conn.fetch(
        """UPDATE deal_holds
              SET status = $4, order_id = COALESCE(order_id, $5), settled_at = $6
            WHERE checkout_id = $1 AND ($2::uuid[] IS NULL OR deal_id = ANY($2::uuid[])) AND status = $3
           RETURNING deal_id::text, quantity""",
        checkout_id,
        list(deal_ids) if deal_ids is not None else None,
        from_status,
        to_status,
        order_id,
        now,
    )
    return sorted((MovedHold(r["deal_id"], r["quantity"]) for r in rows), key=lambda h: h.deal_id)


async def has_held(conn: asyncpg.Connection, checkout_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM deal_holds WHERE checkout_id = $1 AND status = 'held' LIMIT 1", checkout_id
        )
    )
