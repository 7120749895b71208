"""SQL for team buys: teams, their seats (held, paid, released), filling and failing, the public view."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.local_life.domain.teams import PaidLine, Seat, Team
from services.local_life.views import TeamView

_TEAM = "team_id::text, deal_id::text, merchant_id::text, team_size, opened_at, deadline, status"
_SEAT = """team_id::text, seat_no, checkout_id, deal_id::text, buyer_id, quantity, status, order_id::text, line_no,
           amount_minor, currency, room_id, flash_sale_id, paid_at, refund_grant_id::text"""


def _seat(row: asyncpg.Record) -> Seat:
    currency = row["currency"]
    return Seat(**{**dict(row), "currency": currency.strip() if currency else None})


async def insert_team(
    conn: asyncpg.Connection,
    *,
    team_id: str,
    deal_id: str,
    merchant_id: str,
    team_size: int,
    opened_by: str,
    opened_at: datetime,
    deadline: datetime,
) -> Team:
    await conn.execute(
        """INSERT INTO teams (team_id, deal_id, merchant_id, team_size, opened_by, opened_at, deadline)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        team_id,
        deal_id,
        merchant_id,
        team_size,
        opened_by,
        opened_at,
        deadline,
    )
    return Team(team_id, deal_id, merchant_id, team_size, opened_at, deadline, "open")


async def lock_team(conn: asyncpg.Connection, team_id: str) -> Team | None:
    """The team, row-locked until the transaction ends: everything that takes, pays or frees its seats, fills or fails
    it, holds this lock, so seat counts read under it are right."""
    row = await conn.fetchrow(f"SELECT {_TEAM} FROM teams WHERE team_id = $1 FOR UPDATE", team_id)  # noqa: S608
    return Team(**dict(row)) if row else None


async def live_seats(conn: asyncpg.Connection, team_id: str) -> list[tuple[int, str]]:
    """(seat_no, buyer_id) of the team's held and paid seats."""
    rows = await conn.fetch(
        "SELECT seat_no, buyer_id FROM team_seats WHERE team_id = $1 AND status IN ('held', 'paid')", team_id
    )
    return [(r["seat_no"], r["buyer_id"]) for r in rows]


async def insert_seat(
    conn: asyncpg.Connection,
    team: Team,
    *,
    seat_no: int,
    checkout_id: str,
    buyer_id: str,
    quantity: int,
    now: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO team_seats (team_id, team_size, seat_no, checkout_id, deal_id, buyer_id, quantity, held_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
        team.team_id,
        team.team_size,
        seat_no,
        checkout_id,
        team.deal_id,
        buyer_id,
        quantity,
        now,
    )


async def release_held(
    conn: asyncpg.Connection, checkout_id: str, deal_ids: Sequence[str] | None, now: datetime
) -> int:
    """The checkout's held seats (of these deals, or all) are free again, once; how many."""
    rows = await conn.fetch(
        """UPDATE team_seats SET status = 'released', released_at = $3
            WHERE checkout_id = $1 AND ($2::uuid[] IS NULL OR deal_id = ANY($2::uuid[])) AND status = 'held'
           RETURNING 1""",
        checkout_id,
        list(deal_ids) if deal_ids is not None else None,
        now,
    )
    return len(rows)


async def team_of_seat(conn: asyncpg.Connection, checkout_id: str, deal_id: str) -> str | None:
    """The team the checkout has (had) a seat in for this deal."""
    return await conn.fetchval(
        "SELECT team_id::text FROM team_seats WHERE checkout_id = $1 AND deal_id = $2", checkout_id, deal_id
    )


async def seat(conn: asyncpg.Connection, team_id: str, checkout_id: str) -> Seat | None:
    row = await conn.fetchrow(
        f"SELECT {_SEAT} FROM team_seats WHERE team_id = $1 AND checkout_id = $2",  # noqa: S608
        team_id,
        checkout_id,
    )
    return _seat(row) if row else None


async def pay_seat(
    conn: asyncpg.Connection, team_id: str, checkout_id: str, seat_no: int, line: PaidLine, now: datetime
) -> bool:
    """The seat (held, or released and given `seat_no` back) is paid with this line's facts, once."""
    return bool(
        await conn.fetchval(
            """UPDATE team_seats
                  SET status = 'paid', seat_no = $3, released_at = NULL, order_id = $4, line_no = $5, quantity = $6,
                      amount_minor = $7, currency = $8, room_id = $9, flash_sale_id = $10, paid_at = $11
                WHERE team_id = $1 AND checkout_id = $2 AND status IN ('held', 'released') AND order_id IS NULL
               RETURNING true""",
            team_id,
            checkout_id,
            seat_no,
            line.order_id,
            line.line_no,
            line.quantity,
            line.amount_minor,
            line.currency,
            line.room_id,
            line.flash_sale_id,
            line.paid_at,
        )
    )


async def refund_unseated(
    conn: asyncpg.Connection, team_id: str, checkout_id: str, line: PaidLine, grant_id: str, now: datetime
) -> Seat | None:
    """A payment that found no seat: its facts are kept on the (released) seat row, marked refund-requested, once."""
    row = await conn.fetchrow(
        f"""UPDATE team_seats
               SET status = CASE WHEN status = 'held' THEN 'released' ELSE status END,
                   released_at = COALESCE(released_at, $10), order_id = $3, line_no = $4, quantity = $5,
                   amount_minor = $6, currency = $7, room_id = $8, flash_sale_id = $9, paid_at = $11,
                   refund_grant_id = $12, refund_requested_at = $10
             WHERE team_id = $1 AND checkout_id = $2 AND order_id IS NULL
            RETURNING {_SEAT}""",  # noqa: S608 - fixed columns
        team_id,
        checkout_id,
        line.order_id,
        line.line_no,
        line.quantity,
        line.amount_minor,
        line.currency,
        line.room_id,
        line.flash_sale_id,
        now,
        line.paid_at,
        grant_id,
    )
    return _seat(row) if row else None


async def paid_seats(conn: asyncpg.Connection, team_id: str) -> list[Seat]:
    """The team's paid seats, by seat number."""
    rows = await conn.fetch(
        f"SELECT {_SEAT} FROM team_seats WHERE team_id = $1 AND status = 'paid' ORDER BY seat_no",  # noqa: S608
        team_id,
    )
    return [_seat(r) for r in rows]


async def close_team(conn: asyncpg.Connection, team_id: str, status: str, now: datetime) -> bool:
    """An open team becomes `filled` or `failed`, once."""
    return bool(
        await conn.fetchval(
            """UPDATE teams SET status = $2, closed_at = $3 WHERE team_id = $1 AND status = 'open' RETURNING true""",
            team_id,
            status,
            now,
        )
    )


async def release_team_held(conn: asyncpg.Connection, team_id: str, now: datetime) -> int:
    """A failed team's held seats are released (their orders are cancelled by orders' payment timeout)."""
    rows = await conn.fetch(
        """UPDATE team_seats SET status = 'released', released_at = $2
            WHERE team_id = $1 AND status = 'held' RETURNING 1""",
        team_id,
        now,
    )
    return len(rows)


async def mark_refunds(conn: asyncpg.Connection, team_id: str, grants: dict[str, str], now: datetime) -> list[str]:
    """Paid seats (by order id -> grant id) not yet refund-requested are, once; the order ids that were."""
    if not grants:
        return []
    rows = await conn.fetch(
        """UPDATE team_seats s SET refund_grant_id = g.grant_id, refund_requested_at = $4
             FROM unnest($2::uuid[], $3::uuid[]) AS g(order_id, grant_id)
            WHERE s.team_id = $1 AND s.order_id = g.order_id AND s.status = 'paid' AND s.refund_grant_id IS NULL
           RETURNING s.order_id::text""",
        team_id,
        list(grants),
        list(grants.values()),
        now,
    )
    return [r["order_id"] for r in rows]


async def team_view(conn: asyncpg.Connection | asyncpg.Pool, team_id: str) -> TeamView | None:
    """The public view: the deal, the size, seats taken and left, the deadline and status; no buyer ids."""
    row = await conn.fetchrow(
        """SELECT t.team_id::text, t.deal_id::text, d.title AS deal_title, t.merchant_id::text, t.team_size,
                  count(*) FILTER (WHERE s.status = 'paid')::int AS seats_paid,
                  count(*) FILTER (WHERE s.status = 'held')::int AS seats_held,
                  t.opened_at, t.deadline, t.status, t.closed_at
             FROM teams t JOIN deals d USING (deal_id) LEFT JOIN team_seats s USING (team_id)
            WHERE t.team_id = $1
            GROUP BY t.team_id, d.title""",
        team_id,
    )
    if row is None:
        return None
    left = row["team_size"] - row["seats_paid"] - row["seats_held"] if row["status"] == "open" else 0
    return TeamView(**dict(row), seats_left=left)
