"""A flash sale as viewers see it in the room feed (SSE), on two live instances."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from tests.harness import Stack
from tests.integration.live.support import FeedReader, buy_once, new_sale, room_selling, seller_with_stock

SERVICES = ("shop", "live", "orders")
SETTINGS = {"purchase_burst": 1000, "purchase_rate_per_s": 1000.0}
INSTANCES = {"live2": ("live", {})}

SALE_KINDS = ("sale.scheduled", "sale.started", "sale.stock", "sale.sold_out", "sale.ended")


async def sale_events(reader: FeedReader, until: str) -> list:
    events = []
    while True:
        event = await reader.next_of(*SALE_KINDS, timeout=20)
        events.append(event)
        if event.event == until:
            return events


async def test_viewers_on_both_instances_see_the_sale_start_sell_out_and_end_in_order(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    async with FeedReader(stack, room.room_id, "live") as one, FeedReader(stack, room.room_id, "live2") as two:
        first = [await one.next(), await two.next()]
        assert [event.event for event in first] == ["state", "state"]
        assert [event.data["sales"] for event in first] == [[], []]

        sale = await new_sale(stack, room, seller, quantity=3, per_buyer_limit=1)
        for _ in range(3):
            response = await buy_once(stack, room.room_id, sale["sale_id"], stack.infra.token("buyer"))
            assert response.status_code == 201, response.text
        async with stack.client("live2", room.host) as host:
            ended = await host.post(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/end")
        assert ended.status_code == 200, ended.text

        seen = await asyncio.gather(sale_events(one, "sale.ended"), sale_events(two, "sale.ended"))
    for events in seen:
        assert [e.event for e in events] == [
            "sale.started",
            "sale.stock",
            "sale.stock",
            "sale.stock",
            "sale.sold_out",
            "sale.ended",
        ]
        assert [e.data["remaining"] for e in events if e.event == "sale.stock"] == [2, 1, 0]
        assert {e.data["sale_id"] for e in events} == {sale["sale_id"]}
        assert events[0].data["quantity"] == 3
        ids = [e.id for e in events]
        assert ids == sorted(ids)
    assert [e.id for e in seen[0]] == [e.id for e in seen[1]]


async def test_a_scheduled_sale_shows_its_countdown_and_the_room_state_lists_it(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    starts_at = stack.clock.now().replace(microsecond=0)
    async with FeedReader(stack, room.room_id, "live2") as reader:
        await reader.next()
        sale = await new_sale(stack, room, seller, quantity=2, starts_at=starts_at + timedelta(minutes=5))
        event = await reader.next_of(*SALE_KINDS)
    assert event.event == "sale.scheduled"
    assert (event.data["sale_id"], event.data["status"]) == (sale["sale_id"], "scheduled")
    assert event.data["starts_at"] == sale["starts_at"]
    async with FeedReader(stack, room.room_id, "live") as late_viewer:
        state = await late_viewer.next()
    assert state.event == "state"
    assert [(s["sale_id"], s["status"], s["remaining"]) for s in state.data["sales"]] == [
        (sale["sale_id"], "scheduled", 2)
    ]


async def test_a_sale_whose_start_job_is_late_ends_as_a_sale_that_ran(stack: Stack, db: asyncpg.Connection) -> None:
    """The clock admits buyers from `starts_at`; an end job that runs before the start job must not cancel the sale."""
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    starts_at = stack.clock.now() + timedelta(seconds=90)
    sale = await new_sale(stack, room, seller, quantity=4, starts_at=starts_at, duration_s=120, pay_within_s=900)
    # The start job is held up (a busy scheduler, a slow instance): it comes due only long after the end.
    held = await db.execute(
        "UPDATE live.due_jobs SET due_at = due_at + interval '1 day' WHERE kind = 'flash_sale_start' AND key = $1",
        sale["sale_id"],
    )
    assert held == "UPDATE 1"
    stack.clock.advance(91)
    bought = await buy_once(stack, room.room_id, sale["sale_id"], stack.infra.token("buyer"))
    assert bought.status_code == 201, bought.text

    async with FeedReader(stack, room.room_id, "live2") as reader:
        await reader.next()
        stack.clock.advance(121)  # past the end, well within the buyer's payment window
        events = await sale_events(reader, "sale.ended")
    assert [e.event for e in events] == ["sale.started", "sale.ended"]
    assert events[-1].data["reason"] == "time"
    async with stack.client("live", room.host) as host:
        report = await host.get(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/report")
    assert (report.json()["end_reason"], report.json()["admitted_units"]) == ("time", 1)
    units_back = await db.fetchval(
        """SELECT event->>'reason'
           FROM (SELECT subject, convert_from(payload, 'UTF8')::jsonb AS event FROM live.outbox) AS o
           WHERE subject LIKE '%flash_sale.units_returned%' AND event->>'sale_id' = $1""",
        sale["sale_id"],
    )
    assert units_back == "sale_ended"
