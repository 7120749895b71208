"""SQL for flash sales: sales, admissions, buyers' units.

Lock order, everywhere: the room row first (the room feed's `emit` bumps it), then the sale row. A transaction that
took them the other way round could deadlock with a room ending (which holds the room, then ends sales).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from libs.bus import OUTBOX_NOTIFY, outbox_insert, outbox_params
from libs.contracts import Event
from libs.db import Database
from services.live.flash_sales.views import FlashSale

_SELECT_SALES = """SELECT sale_id, room_id, merchant_id, product_id, sku_id, title, sku_name, price_minor, currency,
                         quantity, remaining, returned, per_buyer_limit, pay_within_s, status, starts_at, ends_at,
                         ended_at, end_reason
                  FROM flash_sales"""


def sale_view(row: asyncpg.Record, status: str) -> FlashSale:
    """The public view of a sale row, with its status as of now (see domain.current_status)."""
    return FlashSale(
        sale_id=str(row["sale_id"]),
        room_id=str(row["room_id"]),
        product_id=str(row["product_id"]),
        sku_id=str(row["sku_id"]),
        title=row["title"],
        sku_name=row["sku_name"],
        price_minor=row["price_minor"],
        currency=row["currency"],
        quantity=row["quantity"],
        remaining=row["remaining"],
        per_buyer_limit=row["per_buyer_limit"],
        pay_within_s=row["pay_within_s"],
        status=status,
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        ended_at=row["ended_at"],
    )


# --- rooms and bag (the rooms area's tables, only where one statement must) ------------------


async def lock_room(conn: asyncpg.Connection, room_id: str) -> str | None:
    """Take the room row first (see the lock order above); the room's status, None if no such room."""
    return await conn.fetchval("SELECT status FROM rooms WHERE room_id = $1 FOR NO KEY UPDATE", room_id)


async def lock_room_and_sale(conn: asyncpg.Connection, room_id: str, sale_id: str) -> None:
    """Room row, then sale row, in one round trip (a contended admission batch, see `admit`).

    The materialized CTE locks the room while the join is built; `FOR UPDATE OF s` locks the sale on top of
    the join, after it. Read what they hold with a statement after this one: READ COMMITTED gives each
    statement a fresh snapshot, but this one's was taken before it waited for the locks.
    """
    await conn.execute(
        """WITH room AS MATERIALIZED (SELECT room_id FROM rooms WHERE room_id = $1 FOR NO KEY UPDATE)
           SELECT 1 FROM room, flash_sales s WHERE s.sale_id = $2 FOR UPDATE OF s""",
        room_id,
        sale_id,
    )


async def bag_sku(conn: asyncpg.Connection, room_id: str, sku_id: str) -> asyncpg.Record | None:
    """The SKU with its product, if that product is in the room's bag (from live's catalogue replica)."""
    return await conn.fetchrow(
        """SELECT p.product_id, p.merchant_id, p.title, s->>'name' AS sku_name,
                  (s->>'price_minor')::bigint AS price_minor, s->>'currency' AS currency
           FROM bag_items b
           JOIN products p ON p.product_id = b.product_id
           CROSS JOIN LATERAL jsonb_array_elements(p.skus) AS s
           WHERE b.room_id = $1 AND s->>'sku_id' = $2""",
        room_id,
        sku_id,
    )


# --- sales ---------------------------------------------------------------------------------


async def insert_sale(conn: asyncpg.Connection, **sale: object) -> asyncpg.Record:
    return await conn.fetchrow(
        """INSERT INTO flash_sales (sale_id, room_id, merchant_id, product_id, sku_id, title, sku_name,
                                    price_minor, currency, quantity, remaining, per_buyer_limit, pay_within_s,
                                    status, starts_at, ends_at, created_by, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11, $12, $13, $14, $15, $16, $17)
           RETURNING sale_id, room_id, merchant_id, product_id, sku_id, title, sku_name, price_minor, currency,
                     quantity, remaining, returned, per_buyer_limit, pay_within_s, status, starts_at, ends_at,
                     ended_at, end_reason""",
        sale["sale_id"],
        sale["room_id"],
        sale["merchant_id"],
        sale["product_id"],
        sale["sku_id"],
        sale["title"],
        sale["sku_name"],
        sale["price_minor"],
        sale["currency"],
        sale["quantity"],
        sale["per_buyer_limit"],
        sale["pay_within_s"],
        sale["status"],
        sale["starts_at"],
        sale["ends_at"],
        sale["created_by"],
        sale["created_at"],
    )


async def fetch_sale(conn: asyncpg.Connection | Database, sale_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    query = _SELECT_SALES + " WHERE sale_id = $1"
    return await conn.fetchrow(query + " FOR UPDATE" if lock else query, sale_id)


async def sales_of_room(conn: asyncpg.Connection, room_id: str, *, open_only: bool = False) -> list[asyncpg.Record]:
    """A room's sales, newest first (only those not ended, by start, when `open_only`)."""
    if open_only:
        return await conn.fetch(_SELECT_SALES + " WHERE room_id = $1 AND status <> 'ended' ORDER BY starts_at", room_id)
    return await conn.fetch(_SELECT_SALES + " WHERE room_id = $1 ORDER BY created_at DESC, sale_id", room_id)


async def mark_started(conn: asyncpg.Connection, sale_id: str) -> asyncpg.Record | None:
    """A scheduled sale is running now; None if it is not scheduled (already started, or ended)."""
    return await conn.fetchrow(
        """UPDATE flash_sales SET status = 'running' WHERE sale_id = $1 AND status = 'scheduled'
           RETURNING sale_id, room_id, merchant_id, product_id, sku_id, title, sku_name, price_minor, currency,
                     quantity, remaining, returned, per_buyer_limit, pay_within_s, status, starts_at, ends_at,
                     ended_at, end_reason""",
        sale_id,
    )


async def mark_ended(conn: asyncpg.Connection, sale_id: str, reason: str, now: datetime) -> asyncpg.Record | None:
    """End a sale once: its remaining units count as returned; None if it had ended already.

    Returns the row as it was before (status, remaining) so the caller knows what to give back.
    """
    return await conn.fetchrow(
        """UPDATE flash_sales s
           SET status = 'ended', ended_at = $3, remaining = 0, returned = s.returned + s.remaining,
               end_reason = CASE WHEN s.status = 'scheduled' THEN 'cancelled' ELSE $2 END
           FROM (SELECT sale_id, status, remaining FROM flash_sales WHERE sale_id = $1 FOR UPDATE) AS before
           WHERE s.sale_id = before.sale_id AND before.status <> 'ended'
           RETURNING before.status AS status_before, before.remaining AS remaining_before,
                     s.sale_id, s.room_id, s.merchant_id, s.product_id, s.sku_id, s.title, s.sku_name, s.price_minor,
                     s.currency, s.quantity, s.remaining, s.returned, s.per_buyer_limit, s.pay_within_s, s.status,
                     s.starts_at, s.ends_at, s.ended_at, s.end_reason""",
        sale_id,
        reason,
        now,
    )


async def report_counts(conn: asyncpg.Connection, sale_id: str) -> asyncpg.Record:
    return await conn.fetchrow(
        """SELECT COALESCE(SUM(quantity) FILTER (WHERE status <> 'expired'), 0) AS admitted_units,
                  COALESCE(SUM(quantity) FILTER (WHERE status = 'paid'), 0) AS paid_units,
                  COALESCE(SUM(quantity) FILTER (WHERE status = 'expired'), 0) AS expired_units,
                  COUNT(DISTINCT buyer_id) FILTER (WHERE status <> 'expired') AS buyers
           FROM flash_sale_admissions WHERE sale_id = $1""",
        sale_id,
    )


# --- admissions ------------------------------------------------------------------------------

_SELECT_ADMISSIONS = """
    SELECT admission_id, order_id, sale_id, buyer_id, idempotency_key, asked, quantity, status, pay_by
    FROM flash_sale_admissions"""


@dataclass(frozen=True, slots=True)
class Prior:
    """An admission that exists for a (buyer, key) of a batch: the batch is its buyer's retry."""

    admission_id: str
    order_id: str
    asked: int
    quantity: int
    pay_by: datetime


@dataclass(frozen=True, slots=True)
class BatchSnapshot:
    """What a batch is decided on, from one snapshot: the room and the sale as they are at `version` (the sale
    row's `xmin`, which every write to the sale, its admissions or its buyers' units changes) and `feed_seq`,
    the units its buyers hold and the admissions of its (buyer, key) pairs that exist."""

    sale: asyncpg.Record
    version: str
    feed_seq: int
    room_status: str
    held: dict[str, int]
    prior: dict[tuple[str, str], Prior]


async def batch_snapshot(
    conn: asyncpg.Connection, sale_id: str, buyers: Sequence[str], keys: Sequence[str]
) -> BatchSnapshot:
    """A batch's snapshot in one round trip (one statement: one snapshot; no locks, see `admit`)."""
    row = await conn.fetchrow(
        """SELECT r.status AS room_status, r.feed_seq, s.xmin::text AS version, s.sale_id, s.room_id, s.merchant_id,
                  s.product_id, s.sku_id, s.title, s.sku_name, s.price_minor, s.currency, s.quantity, s.remaining,
                  s.per_buyer_limit, s.pay_within_s, s.status, s.starts_at, s.ends_at,
                  p.buyers AS prior_buyers, p.keys AS prior_keys, p.admission_ids, p.order_ids, p.asked,
                  p.quantities, p.pay_by, h.buyers AS held_buyers, h.units AS held_units
           FROM flash_sales s
           JOIN rooms r ON r.room_id = s.room_id
           CROSS JOIN LATERAL (
               SELECT array_agg(a.buyer_id) AS buyers, array_agg(a.idempotency_key) AS keys,
                      array_agg(a.admission_id) AS admission_ids, array_agg(a.order_id) AS order_ids,
                      array_agg(a.asked) AS asked, array_agg(a.quantity) AS quantities, array_agg(a.pay_by) AS pay_by
               FROM flash_sale_admissions a
               JOIN unnest($2::text[], $3::text[]) AS t(buyer_id, key)
                 ON a.buyer_id = t.buyer_id AND a.idempotency_key = t.key
               WHERE a.sale_id = s.sale_id
           ) p
           CROSS JOIN LATERAL (
               SELECT array_agg(b.buyer_id) AS buyers, array_agg(b.units) AS units
               FROM flash_sale_buyers b WHERE b.sale_id = s.sale_id AND b.buyer_id = ANY($2::text[])
           ) h
           WHERE s.sale_id = $1""",
        sale_id,
        list(buyers),
        list(keys),
    )
    if row is None:
        raise LookupError(f"no flash sale {sale_id}")
    prior = {
        (buyer, key): Prior(str(admission_id), str(order_id), asked, quantity, pay_by)
        for buyer, key, admission_id, order_id, asked, quantity, pay_by in zip(
            row["prior_buyers"] or (),
            row["prior_keys"] or (),
            row["admission_ids"] or (),
            row["order_ids"] or (),
            row["asked"] or (),
            row["quantities"] or (),
            row["pay_by"] or (),
            strict=True,
        )
    }
    held = dict(zip(row["held_buyers"] or (), row["held_units"] or (), strict=True))
    return BatchSnapshot(row, row["version"], row["feed_seq"], row["room_status"], held, prior)


class BatchWriteMismatch(RuntimeError):
    """The database moved under a batch that held the room's and the sale's locks: it must not commit."""


# Fixed text: only parameter numbers are formatted in. Lock order as everywhere: the room row (only while its
# feed is where the batch read it), then the sale row (only while it is the version the batch read); every other
# write joins the sale's update, so if either moved nothing is written.
_ADMIT = f"""WITH room AS MATERIALIZED (
       SELECT room_id FROM rooms WHERE room_id = $14 AND feed_seq = $16 FOR NO KEY UPDATE
   ), sale AS (
       UPDATE flash_sales s SET remaining = s.remaining - $13 FROM room
       WHERE s.sale_id = $1 AND s.xmin::text = $17 RETURNING s.remaining
   ), admissions AS (
       INSERT INTO flash_sale_admissions
           (admission_id, sale_id, buyer_id, idempotency_key, order_id, asked, quantity, admitted_at, pay_by)
       SELECT t.admission_id, $1, t.buyer_id, t.key, t.order_id, t.asked, t.quantity, $2, $3
       FROM sale, unnest($4::uuid[], $5::text[], $6::text[], $7::uuid[], $8::int[], $9::int[])
            AS t(admission_id, buyer_id, key, order_id, asked, quantity)
   ), buyers AS (
       INSERT INTO flash_sale_buyers (sale_id, buyer_id, units, per_buyer_limit)
       SELECT $1, b.buyer_id, b.units, $10 FROM sale, unnest($11::text[], $12::int[]) AS b(buyer_id, units)
       ON CONFLICT (sale_id, buyer_id) DO UPDATE SET units = flash_sale_buyers.units + EXCLUDED.units
   ), feed AS (
       UPDATE rooms r SET feed_seq = $15 FROM sale WHERE r.room_id = $14 RETURNING r.feed_seq
   ), events AS (
       {outbox_insert(18, only_with="sale")}
   )
   SELECT (SELECT remaining FROM sale) AS remaining, (SELECT feed_seq FROM feed) AS feed_seq,
          {OUTBOX_NOTIFY} AS notified"""  # noqa: S608


async def admit(
    conn: asyncpg.Connection,
    seen: BatchSnapshot,
    rows: Sequence[tuple[str, str, str, str, int, int]],
    admitted_at: datetime,
    pay_by: datetime,
    events: Sequence[Event],
    *,
    left: int,
    feed_seq: int,
) -> bool:
    """Write a batch decided on `seen` in one statement, if the room's feed and the sale are still as it saw them:
    its admissions (admission_id, buyer, key, order_id, asked, quantity), added to their buyers' units and taken
    from the sale; the room's feed bumped to `feed_seq`; its events in the outbox. False (nothing written) if
    either moved: decide the batch again on a new snapshot.

    Outside a transaction the statement commits on its own: two round trips for a batch (`batch_snapshot`, this)
    and no lock held between them. Raises BatchWriteMismatch if the database disagrees with `left` after all.
    """
    sale = seen.sale
    per_buyer: dict[str, int] = {}
    for _, buyer, _, _, _, units in rows:
        per_buyer[buyer] = per_buyer.get(buyer, 0) + units
    found = await conn.fetchrow(
        _ADMIT,
        sale["sale_id"],
        admitted_at,
        pay_by,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
        sale["per_buyer_limit"],
        list(per_buyer),
        list(per_buyer.values()),
        sum(per_buyer.values()),
        sale["room_id"],
        feed_seq,
        seen.feed_seq,
        seen.version,
        *outbox_params(conn, events),
    )
    if found["remaining"] is None:
        return False
    if found["remaining"] != left or found["feed_seq"] != feed_seq:
        raise BatchWriteMismatch(
            f"sale {sale['sale_id']}: decided remaining={left} feed_seq={feed_seq}, "
            f"the database has remaining={found['remaining']} feed_seq={found['feed_seq']}"
        )
    return True


async def sale_admissions(conn: asyncpg.Connection | Database, sale_id: str) -> list[asyncpg.Record]:
    """Every admission of a sale (for answering retried keys from memory while nothing can change)."""
    return await conn.fetch(_SELECT_ADMISSIONS + " WHERE sale_id = $1", sale_id)


async def admission(
    conn: asyncpg.Connection | Database, sale_id: str, buyer_id: str, key: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        _SELECT_ADMISSIONS + " WHERE sale_id = $1 AND buyer_id = $2 AND idempotency_key = $3",
        sale_id,
        buyer_id,
        key,
    )


# --- payment outcomes ------------------------------------------------------------------------


async def admission_sale(conn: asyncpg.Connection, admission_id: str) -> asyncpg.Record | None:
    """Which sale and room an admission belongs to (unlocked: to take the locks in order)."""
    return await conn.fetchrow(
        """SELECT a.sale_id, s.room_id FROM flash_sale_admissions a JOIN flash_sales s ON s.sale_id = a.sale_id
           WHERE a.admission_id = $1""",
        admission_id,
    )


async def mark_paid(conn: asyncpg.Connection, admission_id: str, now: datetime) -> bool:
    status = await conn.execute(
        """UPDATE flash_sale_admissions SET status = 'paid', settled_at = $2
           WHERE admission_id = $1 AND status = 'admitted'""",
        admission_id,
        now,
    )
    return status != "UPDATE 0"


async def mark_expired(conn: asyncpg.Connection, admission_id: str, now: datetime) -> asyncpg.Record | None:
    """An unpaid admission lapses (once); its buyer and units, None if it was not awaiting payment."""
    return await conn.fetchrow(
        """UPDATE flash_sale_admissions SET status = 'expired', settled_at = $2
           WHERE admission_id = $1 AND status = 'admitted' RETURNING sale_id, buyer_id, quantity""",
        admission_id,
        now,
    )


async def put_back(conn: asyncpg.Connection, sale_id: str, buyer_id: str, units: int) -> int:
    """Units of an expired admission go back on sale, and off the buyer's count; the units left now."""
    return await conn.fetchval(
        """WITH buyer AS (
               UPDATE flash_sale_buyers SET units = units - $3 WHERE sale_id = $1 AND buyer_id = $2
           )
           UPDATE flash_sales SET remaining = remaining + $3 WHERE sale_id = $1 RETURNING remaining""",
        sale_id,
        buyer_id,
        units,
    )


async def give_back_after_end(conn: asyncpg.Connection, sale_id: str, buyer_id: str, units: int) -> None:
    """Units of an admission that expired after the sale ended go to shop: count them as returned."""
    await conn.execute(
        """WITH buyer AS (
               UPDATE flash_sale_buyers SET units = units - $3 WHERE sale_id = $1 AND buyer_id = $2
           )
           UPDATE flash_sales SET returned = returned + $3 WHERE sale_id = $1""",
        sale_id,
        buyer_id,
        units,
    )
