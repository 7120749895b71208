"""The room's staff feed (`GET /rooms/{id}/funnel/feed`): the host sees a paid order's effect within 2 s of the event,
announcements are coalesced, other instances' feeds hear them too, and idle feeds get keep-alives."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec

from libs.contracts import OrderLine, OrderPaid
from services.live.funnel.adapters.staff_feed import staff_feed_hub
from services.live.funnel.domain.changes import CHANGED_SUBJECT, FunnelChanged
from tests.harness import Infra, Stack, publish
from tests.integration.live.funnel.reading import StaffFeedReader, money
from tests.integration.live.support import Room, control, create_room, new_id

SERVICES = ("live",)
INSTANCES = {"live2": ("live", {})}

# What the Done-when asks: the host's view changes within 2 s of the paid order.
WITHIN_S = 2.0


def paid_in(room: Room, amount_minor: int) -> OrderPaid:
    line = OrderLine(
        sku_id=new_id(),
        product_id=new_id(),
        title="Linen Shirt",
        sku_name="M",
        quantity=1,
        unit_price_minor=amount_minor,
        amount_minor=amount_minor,
        room_id=room.room_id,
    )
    return OrderPaid(
        order_id=new_id(),
        checkout_id=new_id(),
        payment_id=new_id(),
        buyer_id=f"buyer-{uuid.uuid4().hex[:8]}",
        merchant_id=room.merchant_id,
        lines=[line],
        amount_minor=amount_minor,
        currency="USD",
        paid_at=datetime.now(UTC),
    )


async def announce(stack: Stack, *rooms: str, key: str = "live") -> None:
    """What the funnel's consumers announce after a commit (core NATS), here without a commit behind it."""
    bus = stack.apps[key].runtime.bus
    await bus.nc.publish(bus.subject(CHANGED_SUBJECT), msgspec.json.encode(FunnelChanged(rooms=rooms)))
    await bus.nc.flush()


async def test_the_host_sees_a_paid_order_within_2_s(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    await control(stack, room, "start")
    async with StaffFeedReader(stack, room.room_id, room.host) as feed:
        first = await feed.figures()
        assert (first["scope_id"], first["paid_orders"], money(first)["gross_paid_minor"]) == (room.room_id, 0, 0)
        await publish(stack, paid_in(room, 2599))
        # A 2 s timeout on the push; the figures it carries are what the host sees.
        pushed = await feed.figures_until(lambda body: body["paid_orders"] >= 1, timeout=WITHIN_S)
    assert (pushed["paid_orders"], pushed["buyers"], money(pushed)["gross_paid_minor"]) == (1, 1, 2599)


async def test_the_merchant_on_another_instance_sees_it_too(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    await control(stack, room, "start")
    async with StaffFeedReader(stack, room.room_id, room.merchant, key="live2") as feed:
        assert (await feed.figures())["paid_orders"] == 0
        await publish(stack, paid_in(room, 1000))
        await publish(stack, paid_in(room, 500))
        pushed = await feed.figures_until(lambda body: body["paid_orders"] >= 2, timeout=5)
    assert money(pushed)["gross_paid_minor"] == 1500


async def test_a_burst_of_announcements_makes_few_pushes(stack: Stack, infra: Infra, db: asyncpg.Connection) -> None:
    room = await create_room(stack, infra)
    async with StaffFeedReader(stack, room.room_id, room.host) as feed:
        assert (await feed.figures())["views"] == 0
        await db.execute(
            """INSERT INTO live.funnel_minutes (scope, scope_id, step, minute, n)
               VALUES ('room', $1, 'view', date_trunc('minute', now()), 3)""",
            room.room_id,
        )
        for _ in range(40):
            await announce(stack, room.room_id, new_id())
        pushed = await feed.figures_until(lambda body: body["views"] == 3, timeout=5)
        assert pushed["views"] == 3
        # Announcements of other rooms push nothing here; every push the burst made carries the same figures.
        await announce(stack, new_id())
        pushes = 1
        while True:
            try:
                again = await feed.figures(timeout=1.0)
            except TimeoutError:
                break
            assert again["views"] == 3
            pushes += 1
    assert pushes < 40 / 4  # at most one push per ~250 ms per room, however many batches changed it


async def test_an_idle_feed_gets_keep_alives_and_a_closed_one_leaves_the_hub(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    hub = staff_feed_hub(stack.apps["live"].runtime)
    hub.keepalive_s, usual = 0.2, hub.keepalive_s
    try:
        async with StaffFeedReader(stack, room.room_id, room.host) as feed:
            await feed.figures()
            idle = await feed.next(timeout=5)
            assert hub.clients(room.room_id) == 1
    finally:
        hub.keepalive_s = usual
    assert (idle.event, idle.comments) == (None, ["keep-alive"])

    async def gone() -> bool:
        return hub.clients(room.room_id) == 0

    deadline = asyncio.get_running_loop().time() + 5
    while not await gone():
        assert asyncio.get_running_loop().time() < deadline, "the closed feed stayed subscribed"
        await asyncio.sleep(0.05)
