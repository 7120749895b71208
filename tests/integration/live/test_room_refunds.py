"""Refunds per room in the room's stats: orders' RefundSucceeded counted for the room its sale was counted for
(orders' events are published by the test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from libs.contracts import OrderLine, OrderPaid, RefundLine, RefundSucceeded
from tests.harness import Infra, Stack, delivered_twice, eventually, publish
from tests.integration.live.support import Room, create_room, new_id, stats

SERVICES = ("live",)


def line(amount_minor: int, room_id: str | None) -> OrderLine:
    return OrderLine(
        sku_id=new_id(),
        product_id=new_id(),
        title="Linen Shirt",
        sku_name="M",
        quantity=1,
        unit_price_minor=amount_minor,
        amount_minor=amount_minor,
        room_id=room_id,
    )


def order_paid(merchant_id: str, lines: list[OrderLine]) -> OrderPaid:
    return OrderPaid(
        order_id=new_id(),
        checkout_id=new_id(),
        payment_id=new_id(),
        buyer_id=f"buyer-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        lines=lines,
        amount_minor=sum(x.amount_minor for x in lines),
        currency="USD",
        paid_at=datetime.now(UTC),
    )


def refunded(order: OrderPaid, *line_nos: int, amounts: dict[int, int] | None = None) -> RefundSucceeded:
    """Stripe refunded these lines (numbered from 1) of the order, each in full unless `amounts` says otherwise."""
    refund_lines = [
        RefundLine(
            line_no=n,
            sku_id=order.lines[n - 1].sku_id,
            quantity=order.lines[n - 1].quantity,
            amount_minor=(amounts or {}).get(n, order.lines[n - 1].amount_minor),
            room_id=order.lines[n - 1].room_id,
        )
        for n in line_nos
    ]
    return RefundSucceeded(
        grant_id=new_id(),
        case_id=new_id(),
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        amount_minor=sum(x.amount_minor for x in refund_lines),
        currency="USD",
        refund_lines=refund_lines,
        lines=order.lines,
        stripe_refund_id=f"re_{uuid.uuid4().hex[:12]}",
        refunded_at=datetime.now(UTC),
    )


async def counted(stack: Stack, room: Room, *, paid: int, refunds: int) -> dict:
    """The room's stats once `paid` orders and `refunds` refunds were counted."""

    async def check() -> dict | None:
        current = await stats(stack, room)
        return current if (current["paid_orders"], current["refunds"]) >= (paid, refunds) else None

    return await eventually(check)


REFUND_PART = (
    "paid_orders",
    "paid_amount_minor",
    "refunds",
    "refunded_orders",
    "refunded_amount_minor",
    "net_amount_minor",
)


def refund_part(body: dict) -> dict:
    keys = (
        "paid_orders",
        "paid_amount_minor",
        "refunds",
        "refunded_orders",
        "refunded_amount_minor",
        "net_amount_minor",
    )
    return {k: body[k] for k in keys}


async def test_a_refund_of_a_rooms_order_shows_in_its_stats(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    assert refund_part(await stats(stack, room)) == {
        "paid_orders": 0,
        "paid_amount_minor": 0,
        "refunds": 0,
        "refunded_orders": 0,
        "refunded_amount_minor": 0,
        "net_amount_minor": 0,
    }
    paid = order_paid(room.merchant_id, [line(2599, room.room_id), line(1000, room.room_id)])
    await publish(stack, paid)
    await counted(stack, room, paid=1, refunds=0)

    await publish(stack, refunded(paid, 1))
    body = await counted(stack, room, paid=1, refunds=1)
    assert refund_part(body) == {
        "paid_orders": 1,
        "paid_amount_minor": 3599,
        "refunds": 1,
        "refunded_orders": 1,
        "refunded_amount_minor": 2599,
        "net_amount_minor": 1000,
    }
    assert body["currency"] == "USD"


async def test_a_refund_delivered_twice_counts_once(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    first = order_paid(room.merchant_id, [line(2000, room.room_id)])
    second = order_paid(room.merchant_id, [line(500, room.room_id)])
    for paid in (first, second):
        await publish(stack, paid)

    await delivered_twice(stack, refunded(first, 1))
    # A later refund on the same consumer: once it shows, both deliveries before it were handled.
    await publish(stack, refunded(second, 1, amounts={1: 200}))
    body = await counted(stack, room, paid=2, refunds=2)
    assert refund_part(body) == {
        "paid_orders": 2,
        "paid_amount_minor": 2500,
        "refunds": 2,
        "refunded_orders": 2,
        "refunded_amount_minor": 2200,
        "net_amount_minor": 300,
    }


async def test_two_refunds_of_one_order_count_it_once_among_refunded_orders(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    paid = order_paid(room.merchant_id, [line(1500, room.room_id), line(900, room.room_id)])
    await publish(stack, paid)
    # A cancel of one line, then a case's refund of part of the other.
    await publish(stack, refunded(paid, 1))
    await publish(stack, refunded(paid, 2, amounts={2: 400}))
    body = await counted(stack, room, paid=1, refunds=2)
    assert (body["refunds"], body["refunded_orders"], body["refunded_amount_minor"], body["net_amount_minor"]) == (
        2,
        1,
        1900,
        500,
    )


async def test_a_refund_counts_in_each_room_of_its_lines_and_nowhere_else(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    first, second = await create_room(stack, infra, merchant_id), await create_room(stack, infra, merchant_id)
    foreign = await create_room(stack, infra)  # another merchant's room never sells this merchant's goods
    paid = order_paid(
        merchant_id,
        [
            line(1500, first.room_id),
            line(700, second.room_id),
            line(300, second.room_id),
            line(99, None),
            line(50, foreign.room_id),
            line(10, "not-a-room"),
        ],
    )
    await publish(stack, paid)
    await publish(stack, refunded(paid, 1, 2, 3, 4, 5, 6))

    in_first = await counted(stack, first, paid=1, refunds=1)
    in_second = await counted(stack, second, paid=1, refunds=1)
    assert (in_first["refunds"], in_first["refunded_orders"], in_first["refunded_amount_minor"]) == (1, 1, 1500)
    assert (in_second["refunds"], in_second["refunded_orders"], in_second["refunded_amount_minor"]) == (1, 1, 1000)
    assert (in_first["net_amount_minor"], in_second["net_amount_minor"]) == (0, 0)

    # Events are counted in stream order: once a later refund of the foreign room shows, the first was handled.
    own = order_paid(foreign.merchant_id, [line(80, foreign.room_id)])
    await publish(stack, own)
    await publish(stack, refunded(own, 1, amounts={1: 30}))
    in_foreign = await counted(stack, foreign, paid=1, refunds=1)
    assert refund_part(in_foreign) == {
        "paid_orders": 1,
        "paid_amount_minor": 80,
        "refunds": 1,
        "refunded_orders": 1,
        "refunded_amount_minor": 30,
        "net_amount_minor": 50,
    }
