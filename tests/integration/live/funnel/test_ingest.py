"""Funnel ingest: real contract events on NATS become facts once each, folded into rollups, uniques and touches;
order lines are attributed to the last room touched within its window; the step metric counts each new fact in its
producer's trace."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
from opentelemetry.sdk.trace import TracerProvider

from libs.contracts import (
    CartItemAdded,
    FunnelTap,
    FunnelTapped,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    RefundLine,
    RefundSucceeded,
    RoomViewed,
    VisitEnded,
)
from libs.telemetry import capture_headers, names
from tests.harness import Infra, Stack, eventually, publish
from tests.integration.live.support import Room, live_room, new_id

SERVICES = ("live",)


async def session_of(db: asyncpg.Connection, room: Room) -> str:
    return str(await db.fetchval("SELECT current_session_id FROM live.rooms WHERE room_id = $1", room.room_id))


async def host_of(db: asyncpg.Connection, room: Room) -> str:
    return await db.fetchval("SELECT host_id FROM live.rooms WHERE room_id = $1", room.room_id)


async def rollup(db: asyncpg.Connection, scope: str, scope_id: str, step: str) -> asyncpg.Record:
    return await db.fetchrow(
        """SELECT coalesce(sum(n), 0) AS n, coalesce(sum(quantity), 0) AS quantity,
                  coalesce(sum(amount_minor), 0) AS amount, coalesce(sum(watch_s), 0) AS watch_s
           FROM live.funnel_minutes WHERE scope = $1 AND scope_id = $2 AND step = $3""",
        scope,
        scope_id,
        step,
    )


async def uniques(db: asyncpg.Connection, scope: str, scope_id: str, kind: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM live.funnel_uniques WHERE scope = $1 AND scope_id = $2 AND kind = $3",
        scope,
        scope_id,
        kind,
    )


def step_points(stack: Stack) -> dict[tuple[str, str], int]:
    """`liveloop.funnel.step` per (step, source type)."""
    data = stack.metrics["live"].get_metrics_data()
    totals: dict[tuple[str, str], int] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == names.FUNNEL_STEP:
                    for point in metric.data.data_points:
                        assert set(point.attributes) == {names.FUNNEL_STEP_NAME, names.FUNNEL_SOURCE_TYPE}
                        key = (point.attributes[names.FUNNEL_STEP_NAME], point.attributes[names.FUNNEL_SOURCE_TYPE])
                        totals[key] = totals.get(key, 0) + point.value
    return totals


def exemplar_traces(stack: Stack, step: str) -> set[str]:
    data = stack.metrics["live"].get_metrics_data()
    return {
        format(exemplar.trace_id, "032x")
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == names.FUNNEL_STEP
        for point in metric.data.data_points
        if point.attributes[names.FUNNEL_STEP_NAME] == step
        for exemplar in point.exemplars
        if exemplar.trace_id
    }


def viewed(room: Room, session_id: str, host_id: str, viewer: str, at: datetime) -> RoomViewed:
    return RoomViewed(
        visit_id=new_id(),
        room_id=room.room_id,
        session_id=session_id,
        host_id=host_id,
        merchant_id=room.merchant_id,
        viewer_id=viewer,
        joined_at=at,
    )


def click(room: Room, session_id: str, host_id: str, viewer: str, product_id: str, at: datetime) -> FunnelTap:
    minute = at.replace(second=0, microsecond=0).isoformat()
    return FunnelTap(
        fact_key=f"click:{viewer}:{product_id}:{minute}",
        kind="click",
        at=at,
        viewer_id=viewer,
        host_id=host_id,
        merchant_id=room.merchant_id,
        room_id=room.room_id,
        session_id=session_id,
        product_id=product_id,
        surface="bag",
    )


def order_line(product_id: str, amount_minor: int, room_id: str | None = None) -> OrderLine:
    return OrderLine(
        sku_id=new_id(),
        product_id=product_id,
        title="Linen Shirt",
        sku_name="M",
        quantity=1,
        unit_price_minor=amount_minor,
        amount_minor=amount_minor,
        room_id=room_id,
    )


def placed(buyer: str, merchant_id: str, lines: list[OrderLine], at: datetime) -> OrderPlaced:
    amount = sum(line.amount_minor for line in lines)
    return OrderPlaced(
        order_id=new_id(),
        checkout_id=new_id(),
        buyer_id=buyer,
        merchant_id=merchant_id,
        lines=lines,
        payment_id=new_id(),
        amount_minor=amount,
        currency="USD",
        pay_by=at + timedelta(minutes=15),
        occurred_at=at,
    )


def paid(order: OrderPlaced, at: datetime) -> OrderPaid:
    return OrderPaid(
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        lines=order.lines,
        payment_id=order.payment_id,
        amount_minor=order.amount_minor,
        currency="USD",
        paid_at=at,
    )


async def test_views_watch_clicks_and_carts_fold_once_into_rollups_uniques_and_the_step_metric(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    room = await live_room(stack, infra)
    session_id, host_id = await session_of(db, room), await host_of(db, room)
    now = datetime.now(UTC)
    product_id = new_id()
    views = [viewed(room, session_id, host_id, viewer, now) for viewer in ("ann", "bob", "cy", "ann")]
    ended = VisitEnded(
        visit_id=views[0].visit_id,
        room_id=room.room_id,
        session_id=session_id,
        host_id=host_id,
        merchant_id=room.merchant_id,
        viewer_id="ann",
        watch_s=42.5,
        ended_at=now,
    )
    taps = FunnelTapped(taps=[click(room, session_id, host_id, v, product_id, now) for v in ("ann", "bob")])
    cart = CartItemAdded(
        fact_key=f"bob:{new_id()}:{now.isoformat()}",
        buyer_id="bob",
        sku_id=new_id(),
        product_id=product_id,
        merchant_id=room.merchant_id,
        quantity=2,
        unit_price_minor=1500,
        currency="usd",
        source_type="room",
        source_id=room.room_id,
        source_verified=True,
        added_at=now,
    )
    for event in (*views, ended, taps, cart):
        await publish(stack, event)

    await eventually(lambda: rollup(db, "room", room.room_id, "cart"), timeout=15)
    await eventually(lambda: db.fetchval("SELECT count(*) = 8 FROM live.funnel_facts WHERE room_id = $1", room.room_id))
    for scope, scope_id in (("room", room.room_id), ("session", session_id), ("host", host_id)):
        assert (await rollup(db, scope, scope_id, "view"))["n"] == 4
        assert await uniques(db, scope, scope_id, "viewer") == 3
        assert (await rollup(db, scope, scope_id, "watch"))["watch_s"] == 42.5
        assert (await rollup(db, scope, scope_id, "click"))["n"] == 2
        assert await uniques(db, scope, scope_id, "clicker") == 2
        cart_row = await rollup(db, scope, scope_id, "cart")
        assert (cart_row["n"], cart_row["quantity"], cart_row["amount"]) == (1, 2, 3000)
    assert (await rollup(db, "merchant", room.merchant_id, "view"))["n"] == 4
    # The click and the room-sourced cart line are what attribution will look at.
    touches = await db.fetch(
        "SELECT person_id, source_id, session_id FROM live.funnel_touches WHERE item_id = $1", product_id
    )
    assert sorted(t["person_id"] for t in touches) == ["ann", "bob", "bob"]
    assert {(t["source_id"], t["session_id"]) for t in touches} == {(room.room_id, session_id)}
    points = step_points(stack)
    assert points[("view", "room")] >= 4
    assert points[("cart", "room")] >= 1

    # The same facts again under new event ids (a relay republishing, a client re-sending taps) change nothing.
    before = await db.fetch(
        "SELECT * FROM live.funnel_minutes WHERE scope = 'room' AND scope_id = $1 ORDER BY 1,2,3,4,5", room.room_id
    )
    counted = points
    for event in (views[1], ended, taps, cart):
        await publish(stack, msgspec.structs.replace(event, event_id=str(uuid.uuid4())))
    marker = viewed(room, session_id, host_id, "dee", now)
    await publish(stack, marker)
    await eventually(
        lambda: db.fetchval("SELECT count(*) FROM live.funnel_facts WHERE fact_key = $1", f"view:{marker.visit_id}")
    )
    after = await db.fetch(
        "SELECT * FROM live.funnel_minutes WHERE scope = 'room' AND scope_id = $1 ORDER BY 1,2,3,4,5", room.room_id
    )
    assert [dict(r) for r in after if r["step"] != "view"] == [dict(r) for r in before if r["step"] != "view"]
    assert (await rollup(db, "room", room.room_id, "view"))["n"] == 5  # only the new viewer's view
    assert step_points(stack)[("view", "room")] == counted[("view", "room")] + 1
    assert step_points(stack)[("cart", "room")] == counted[("cart", "room")]


async def test_order_is_attributed_to_a_room_click_29_minutes_before_and_not_31(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    room = await live_room(stack, infra)
    session_id, host_id = await session_of(db, room), await host_of(db, room)
    product_id = new_id()
    now = datetime.now(UTC)
    near, far = f"near-{new_id()[:8]}", f"far-{new_id()[:8]}"
    await publish(
        stack,
        FunnelTapped(
            taps=[
                click(room, session_id, host_id, near, product_id, now - timedelta(minutes=29)),
                click(room, session_id, host_id, far, product_id, now - timedelta(minutes=31)),
            ]
        ),
    )
    await eventually(lambda: db.fetchval("SELECT count(*) = 2 FROM live.funnel_touches WHERE item_id = $1", product_id))

    near_order = placed(near, room.merchant_id, [order_line(product_id, 2500)], now)
    far_order = placed(far, room.merchant_id, [order_line(product_id, 2500)], now)
    await publish(stack, near_order)
    await publish(stack, far_order)
    lines = await eventually(lambda: _two(db, near_order.order_id, far_order.order_id))
    by_buyer = {row["buyer_id"]: row for row in lines}
    assert (by_buyer[near]["source_type"], by_buyer[near]["room_id"]) == ("room", room.room_id)
    assert (by_buyer[near]["session_id"], by_buyer[near]["host_id"]) == (session_id, host_id)
    assert by_buyer[far]["source_type"] is None
    assert by_buyer[far]["room_id"] is None

    # Paid and refunded lines take the kept attribution: the room earns the near buyer's money, not the far one's.
    await publish(stack, paid(near_order, now + timedelta(minutes=1)))
    await publish(stack, paid(far_order, now + timedelta(minutes=1)))
    await eventually(
        lambda: db.fetchval(
            "SELECT count(*) = 2 FROM live.funnel_facts WHERE step = 'paid' AND order_id = ANY($1::text[])",
            [near_order.order_id, far_order.order_id],
        )
    )
    room_paid = await rollup(db, "room", room.room_id, "paid")
    assert (room_paid["n"], room_paid["amount"]) == (1, 2500)
    assert await uniques(db, "room", room.room_id, "buyer") == 1
    merchant_paid = await rollup(db, "merchant", room.merchant_id, "paid")
    assert (merchant_paid["n"], merchant_paid["amount"]) == (2, 5000)

    refund = RefundSucceeded(
        grant_id=new_id(),
        order_id=near_order.order_id,
        checkout_id=near_order.checkout_id,
        buyer_id=near,
        merchant_id=room.merchant_id,
        amount_minor=1000,
        currency="USD",
        refund_lines=[RefundLine(line_no=0, sku_id=near_order.lines[0].sku_id, quantity=1, amount_minor=1000)],
        lines=near_order.lines,
        stripe_refund_id="re_1",
        refunded_at=now + timedelta(minutes=2),
    )
    await publish(stack, refund)
    await eventually(lambda: rollup(db, "session", session_id, "refund"))
    await eventually(lambda: _amount_is(db, "room", room.room_id, "refund", 1000))
    assert (await rollup(db, "host", host_id, "refund"))["amount"] == 1000


async def _two(db: asyncpg.Connection, *order_ids: str) -> list[asyncpg.Record] | None:
    rows = await db.fetch("SELECT * FROM live.funnel_order_lines WHERE order_id = ANY($1::text[])", list(order_ids))
    return rows if len(rows) == len(order_ids) else None


async def _amount_is(db: asyncpg.Connection, scope: str, scope_id: str, step: str, amount: int) -> bool:
    return (await rollup(db, scope, scope_id, step))["amount"] == amount


async def test_line_naming_its_room_wins_and_the_step_is_counted_in_its_producers_trace(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    room = await live_room(stack, infra)
    other = await live_room(stack, infra, room.merchant_id)
    session_id = await session_of(db, room)
    other_session, other_host = await session_of(db, other), await host_of(db, other)
    product_id, buyer = new_id(), f"buyer-{new_id()[:8]}"
    now = datetime.now(UTC)
    # A click in another room a minute ago: the line names its own room, which wins.
    await publish(
        stack,
        FunnelTapped(taps=[click(other, other_session, other_host, buyer, product_id, now - timedelta(minutes=1))]),
    )
    await eventually(lambda: db.fetchval("SELECT count(*) FROM live.funnel_touches WHERE item_id = $1", product_id))

    order = placed(buyer, room.merchant_id, [order_line(product_id, 4000, room_id=room.room_id)], now)
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("checkout") as span:
        headers = capture_headers()
        trace_id = format(span.get_span_context().trace_id, "032x")
    bus = stack.apps["live"].runtime.bus
    await bus.publish_event(order.SUBJECT, msgspec.json.encode(order), headers, order.event_id)

    fact = await eventually(
        lambda: db.fetchrow("SELECT * FROM live.funnel_facts WHERE fact_key = $1", f"order:{order.order_id}:0")
    )
    assert (fact["source_type"], fact["room_id"], fact["session_id"]) == ("room", room.room_id, session_id)
    assert fact["trace_id"] == trace_id
    await eventually(lambda: trace_id in exemplar_traces(stack, "order"))
