"""An admission batch is decided on a snapshot and written only if the room's feed and the sale are still as it saw
them: a batch decided on what has since moved writes nothing (and is decided again), whatever moved it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest_asyncio

from services.live.flash_sales import store
from services.live.flash_sales.use_cases.admissions import admission_ids
from tests.harness import Stack, eventually
from tests.integration.live.support import (
    UNTHROTTLED,
    buy_once,
    new_sale,
    order_of,
    orders_of,
    remaining_is,
    room_selling,
    seller_with_stock,
)

SERVICES = ("shop", "live", "orders")
SETTINGS = UNTHROTTLED


@pytest_asyncio.fixture(loop_scope="session")
async def db(stack: Stack) -> AsyncIterator[asyncpg.Connection]:
    """A connection of live's own pool (its schema, its codecs), as its admission engine uses."""
    async with stack.apps["live"].runtime.db.pool.acquire() as conn:
        yield conn


def buyer(stack: Stack) -> tuple[str, str]:
    """(buyer id, token)."""
    sub = f"batch-buyer-{uuid.uuid4().hex[:8]}"
    return sub, stack.infra.token("buyer", sub=sub)


async def write_one(db: asyncpg.Connection, seen: store.BatchSnapshot, buyer_id: str, key: str) -> bool:
    """Write one unit for (buyer, key) as the engine would have decided it on `seen`."""
    admission_id, order_id = admission_ids(str(seen.sale["sale_id"]), buyer_id, key)
    now = seen.sale["starts_at"] + timedelta(seconds=1)
    left, seq = seen.sale["remaining"] - 1, seen.feed_seq + 1
    return await store.admit(
        db, seen, [(admission_id, buyer_id, key, order_id, 1, 1)], now, now, [], left=left, feed_seq=seq
    )


async def written(db: asyncpg.Connection, sale_id: str) -> tuple[int, int, int, int]:
    """(admissions, units buyers hold, the room's feed seq, outbox rows) as the database has them."""
    row = await db.fetchrow(
        """SELECT (SELECT count(*) FROM flash_sale_admissions WHERE sale_id = $1) AS admissions,
                  (SELECT COALESCE(sum(units), 0) FROM flash_sale_buyers WHERE sale_id = $1) AS units,
                  (SELECT r.feed_seq FROM rooms r JOIN flash_sales s ON s.room_id = r.room_id WHERE s.sale_id = $1)
                      AS feed_seq,
                  (SELECT count(*) FROM outbox) AS events""",
        sale_id,
    )
    return tuple(row)


async def test_a_batch_decided_before_another_batch_wrote_writes_nothing_then_is_decided_again(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=3, per_buyer_limit=1)
    sale_id = sale["sale_id"]
    bob, _ = buyer(stack)
    stale = await store.batch_snapshot(db, sale_id, [bob], ["k"])

    _, alice = buyer(stack)
    assert (await buy_once(stack, room.room_id, sale_id, alice)).status_code == 201
    before = await written(db, sale_id)
    assert not await write_one(db, stale, bob, "k")
    assert await written(db, sale_id) == before
    assert await remaining_is(stack, room.room_id, sale_id, 2)

    fresh = await store.batch_snapshot(db, sale_id, [bob], ["k"])
    assert await write_one(db, fresh, bob, "k")
    admissions, units, feed_seq, _ = await written(db, sale_id)
    assert (admissions, units, feed_seq) == (before[0] + 1, before[1] + 1, before[2] + 1)
    assert await remaining_is(stack, room.room_id, sale_id, 1)


async def test_a_batch_decided_before_the_rooms_feed_moved_writes_nothing(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=3, per_buyer_limit=1)
    bob, _ = buyer(stack)
    stale = await store.batch_snapshot(db, sale["sale_id"], [bob], ["k"])

    # Another sale in the room: its `sale.started` takes the feed's next seq, the one the batch would have used.
    await new_sale(stack, room, seller, quantity=2, per_buyer_limit=1)
    before = await written(db, sale["sale_id"])
    assert not await write_one(db, stale, bob, "k")
    assert await written(db, sale["sale_id"]) == before
    assert await remaining_is(stack, room.room_id, sale["sale_id"], 3)


async def test_a_batch_is_refused_even_when_the_units_left_came_back_to_what_it_saw(
    stack: Stack, db: asyncpg.Connection
) -> None:
    """Alice's unpaid unit goes back on sale after Carol took one: as many units are left as the batch saw,
    but Carol now holds her limit. Written, the batch would give Carol a second unit."""
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=5, per_buyer_limit=1, pay_within_s=60, duration_s=3600)
    sale_id = sale["sale_id"]
    _, alice = buyer(stack)
    first = await buy_once(stack, room.room_id, sale_id, alice)
    assert first.status_code == 201, first.text
    await orders_of(stack, [(alice, first.json())])

    stack.clock.advance(30)
    carol, carol_token = buyer(stack)
    stale = await store.batch_snapshot(db, sale_id, [carol], ["second"])
    assert (stale.sale["remaining"], stale.held) == (4, {})
    bought = await buy_once(stack, room.room_id, sale_id, carol_token, key="first")
    assert bought.status_code == 201, bought.text

    stack.clock.advance(31)  # Alice's payment window is over, Carol's is not
    order_id = first.json()["order_id"]

    async def alices_order_cancelled() -> bool:
        order = await order_of(stack, alice, order_id)
        return order is not None and order["status"] == "cancelled"

    await eventually(alices_order_cancelled, timeout=20)
    await eventually(lambda: remaining_is(stack, room.room_id, sale_id, 4), timeout=20)

    before = await written(db, sale_id)
    assert not await write_one(db, stale, carol, "second")
    assert await written(db, sale_id) == before
    assert (
        await db.fetchval("SELECT units FROM flash_sale_buyers WHERE sale_id = $1 AND buyer_id = $2", sale_id, carol)
        == 1
    )
