"""Stock reservation over NATS request/reply, and commit/release driven by orders' real events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from libs.contracts import (
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    ReserveItem,
    ReserveStockReply,
    StockCommitted,
    StockReleased,
)
from tests.harness import Infra, Stack, assert_problem, eventually, publish
from tests.integration.shop.support import capture, order_lines, reserve, seller

SERVICES = ("shop",)


def paid(checkout_id: str, merchant_id: str, reply: ReserveStockReply, order_id: str | None = None) -> OrderPaid:
    lines = order_lines(reply)
    return OrderPaid(
        order_id=order_id or str(uuid.uuid4()),
        checkout_id=checkout_id,
        payment_id=str(uuid.uuid4()),
        buyer_id="buyer-1",
        merchant_id=merchant_id,
        lines=lines,
        amount_minor=sum(line.amount_minor for line in lines),
        currency="USD",
        paid_at=datetime.now(UTC),
    )


def cancelled(checkout_id: str, merchant_id: str, reply: ReserveStockReply, order_id: str) -> OrderCancelled:
    return OrderCancelled(
        order_id=order_id,
        checkout_id=checkout_id,
        buyer_id="buyer-1",
        merchant_id=merchant_id,
        lines=order_lines(reply),
        reason="payment_timeout",
    )


async def test_reservation_holds_stock_and_prices_lines_from_the_catalogue(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5, 5, prices=(2599, 1500))
    reply = await reserve(
        stack,
        [ReserveItem(sku_id=s.sku_ids[0], quantity=2, room_id="room-7"), ReserveItem(sku_id=s.sku_ids[1], quantity=1)],
    )
    assert reply.ok, reply
    assert [(line.sku_id, line.quantity, line.unit_price_minor, line.currency) for line in reply.lines] == [
        (s.sku_ids[0], 2, 2599, "USD"),
        (s.sku_ids[1], 1, 1500, "USD"),
    ]
    assert [(line.merchant_id, line.title, line.sku_name, line.room_id) for line in reply.lines] == [
        (s.merchant_id, "Tee", "S0", "room-7"),
        (s.merchant_id, "Tee", "S1", None),
    ]
    assert await s.stock() == [(5, 2), (5, 1)]
    async with stack.client("shop") as anonymous:
        public = (await anonymous.get(f"/products/{s.product['product_id']}")).json()
    assert [sku["stock_available"] for sku in public["skus"]] == [3, 4]


async def test_reservation_short_on_one_line_reserves_nothing_at_all(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5, 2)
    reply = await reserve(stack, [(s.sku_ids[0], 3), (s.sku_ids[1], 3)])
    assert not reply.ok
    assert reply.error == "insufficient_stock"
    assert reply.item_index == 1
    assert s.sku_ids[1] in (reply.detail or "")
    assert "2 available" in (reply.detail or "")
    assert await s.stock() == [(5, 0), (2, 0)]


async def test_unknown_skus_and_bad_quantities_are_refused_naming_the_item(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    unknown = await reserve(stack, [(s.sku_ids[0], 1), (str(uuid.uuid4()), 1)])
    garbage = await reserve(stack, [("not-a-sku", 1)])
    zero = await reserve(stack, [(s.sku_ids[0], 1), (s.sku_ids[0], 0)])
    negative = await reserve(stack, [(s.sku_ids[0], -2)])
    empty = await reserve(stack, [])
    assert (unknown.ok, unknown.error, unknown.item_index) == (False, "unknown_sku", 1)
    assert (garbage.ok, garbage.error, garbage.item_index) == (False, "unknown_sku", 0)
    assert (zero.ok, zero.error, zero.item_index) == (False, "invalid_quantity", 1)
    assert (negative.ok, negative.error, negative.item_index) == (False, "invalid_quantity", 0)
    assert (empty.ok, empty.error) == (False, "invalid_request")
    assert await s.stock() == [(5, 0)]


async def test_the_same_sku_twice_is_one_merged_line(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    reply = await reserve(stack, [(s.sku_ids[0], 2), (s.sku_ids[0], 3)])
    assert reply.ok
    assert [(line.sku_id, line.quantity) for line in reply.lines] == [(s.sku_ids[0], 5)]
    assert await s.stock() == [(5, 5)]
    refused = await reserve(stack, [(s.sku_ids[0], 1)])
    assert (refused.ok, refused.error) == (False, "insufficient_stock")


async def test_concurrent_reservations_never_hold_more_than_stock(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, 100)
    # Each checkout also wants a unit of a second SKU, in varying order: locks must not deadlock.
    replies = await asyncio.gather(
        *(
            reserve(stack, [(s.sku_ids[0], 1), (s.sku_ids[1], 1)] if i % 2 else [(s.sku_ids[1], 1), (s.sku_ids[0], 1)])
            for i in range(30)
        )
    )
    assert sum(r.ok for r in replies) == 10
    assert {r.error for r in replies if not r.ok} == {"insufficient_stock"}
    assert await s.stock() == [(10, 10), (100, 10)]


async def test_reserving_is_idempotent_on_the_checkout_id(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    checkout_id = str(uuid.uuid4())
    first = await reserve(stack, [(s.sku_ids[0], 3)], checkout_id=checkout_id)
    retries = await asyncio.gather(*(reserve(stack, [(s.sku_ids[0], 3)], checkout_id=checkout_id) for _ in range(5)))
    assert first.ok
    assert all(r == first for r in retries)
    assert await s.stock() == [(10, 3)]

    twins_id = str(uuid.uuid4())
    twins = await asyncio.gather(*(reserve(stack, [(s.sku_ids[0], 2)], checkout_id=twins_id) for _ in range(5)))
    assert all(r.ok and r.lines == twins[0].lines for r in twins)
    assert await s.stock() == [(10, 5)]

    stranger = await reserve(stack, [(s.sku_ids[0], 3)], checkout_id=checkout_id, buyer_id="buyer-2")
    assert (stranger.ok, stranger.error, stranger.lines) == (False, "checkout_conflict", [])


async def test_a_reservation_answered_after_the_caller_gave_up_holds_nothing(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    checkout_id = str(uuid.uuid4())
    late = await reserve(stack, [(s.sku_ids[0], 2)], checkout_id=checkout_id, answer_within_s=-1)
    assert (late.ok, late.error, late.lines) == (False, "too_late", [])
    assert await s.stock() == [(5, 0)]
    # Nothing of it was kept: the same checkout, asked again in time, reserves afresh.
    again = await reserve(stack, [(s.sku_ids[0], 2)], checkout_id=checkout_id, answer_within_s=5)
    assert again.ok, again
    assert await s.stock() == [(5, 2)]


async def test_paid_order_commits_its_stock_once_even_if_delivered_twice(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, 4)
    checkout_id = str(uuid.uuid4())
    reply = await reserve(stack, [(s.sku_ids[0], 3), (s.sku_ids[1], 4)], checkout_id=checkout_id)
    assert reply.ok
    committed, stop = await capture(stack, StockCommitted.SUBJECT)
    try:
        event = paid(checkout_id, s.merchant_id, reply)
        await publish(stack, event)
        await eventually(lambda: [c for c in committed if c["order_id"] == event.order_id])
        assert await s.stock() == [(7, 0), (0, 0)]

        # The same event again as a relay retry after JetStream's duplicate window would deliver it
        # (a new Nats-Msg-Id, same event id), then the same fact under a new event id.
        bus = stack.apps["shop"].runtime.bus
        await bus.publish_event(event.SUBJECT, msgspec.json.encode(event), {}, f"{event.event_id}-again")
        await publish(stack, msgspec.structs.replace(event, event_id=str(uuid.uuid4())))
        # A marker published after them: once it is committed, the consumer has seen both repeats.
        marker = await seller(stack, infra, 1)
        marker_checkout = str(uuid.uuid4())
        marker_reply = await reserve(stack, [(marker.sku_ids[0], 1)], checkout_id=marker_checkout)
        await publish(stack, paid(marker_checkout, marker.merchant_id, marker_reply))
        await eventually(lambda: [c for c in committed if c["checkout_id"] == marker_checkout])
        assert await marker.stock() == [(0, 0)]

        assert await s.stock() == [(7, 0), (0, 0)]
        ours = [c for c in committed if c["checkout_id"] == checkout_id]
        assert len(ours) == 1
        assert sorted((x["sku_id"], x["quantity"]) for x in ours[0]["lines"]) == sorted(
            [(s.sku_ids[0], 3), (s.sku_ids[1], 4)]
        )
    finally:
        await stop()


async def test_cancelled_order_releases_its_held_stock(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    checkout_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
    reply = await reserve(stack, [(s.sku_ids[0], 4)], checkout_id=checkout_id)
    assert await s.stock() == [(10, 4)]
    released, stop = await capture(stack, StockReleased.SUBJECT)
    try:
        await publish(stack, cancelled(checkout_id, s.merchant_id, reply, order_id))
        await eventually(lambda: released)
        assert await s.stock() == [(10, 0)]
        assert released[0]["order_id"] == order_id
        assert released[0]["reason"] == "payment_timeout"
        # A payment arriving after the cancellation still takes its units, from available stock.
        await publish(stack, paid(checkout_id, s.merchant_id, reply, order_id))
        await eventually(lambda: s.has_stock([(6, 0)]))
    finally:
        await stop()


async def test_expired_hold_goes_back_to_available_stock(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    kept = await seller(stack, infra, 10)
    checkout_id = str(uuid.uuid4())
    reply = await reserve(stack, [(s.sku_ids[0], 6)], checkout_id=checkout_id, hold_s=60)
    assert reply.ok
    placed = OrderPlaced(
        order_id=str(uuid.uuid4()),
        checkout_id=checkout_id,
        payment_id=str(uuid.uuid4()),
        buyer_id="buyer-1",
        merchant_id=s.merchant_id,
        lines=order_lines(reply),
        amount_minor=6000,
        currency="USD",
        pay_by=datetime.now(UTC) + timedelta(seconds=60),
    )
    await publish(stack, placed)
    longer = await reserve(stack, [(kept.sku_ids[0], 2)], hold_s=3600)
    assert longer.ok
    released, stop = await capture(stack, StockReleased.SUBJECT)
    try:
        await asyncio.sleep(0.5)
        assert await s.stock() == [(10, 6)]  # not before its time
        stack.clock.advance(61)
        await eventually(lambda: s.has_stock([(10, 0)]))
        event = await eventually(lambda: [r for r in released if r["checkout_id"] == checkout_id])
        assert event[0]["reason"] == "hold_expired"
        assert event[0]["order_id"] == placed.order_id
        assert await kept.stock() == [(10, 2)]
    finally:
        await stop()


async def test_replaying_a_checkout_whose_hold_expired_says_expired_and_holds_nothing(
    stack: Stack, infra: Infra
) -> None:
    s = await seller(stack, infra, 1)
    checkout_id = str(uuid.uuid4())
    first = await reserve(stack, [(s.sku_ids[0], 1)], checkout_id=checkout_id, hold_s=30)
    assert first.ok
    stack.clock.advance(31)
    await eventually(lambda: s.has_stock([(1, 0)]))
    taken = await reserve(stack, [(s.sku_ids[0], 1)], buyer_id="buyer-2")
    assert taken.ok

    replay = await reserve(stack, [(s.sku_ids[0], 1)], checkout_id=checkout_id, hold_s=30)
    assert (replay.ok, replay.error, replay.lines) == (False, "expired", [])
    assert replay.detail
    assert await s.stock() == [(1, 1)]


async def test_replaying_a_checkout_that_was_cancelled_or_paid_says_so(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    cancelled_id, paid_id = str(uuid.uuid4()), str(uuid.uuid4())
    to_cancel = await reserve(stack, [(s.sku_ids[0], 2)], checkout_id=cancelled_id)
    to_pay = await reserve(stack, [(s.sku_ids[0], 3)], checkout_id=paid_id)
    await publish(stack, cancelled(cancelled_id, s.merchant_id, to_cancel, str(uuid.uuid4())))
    await publish(stack, paid(paid_id, s.merchant_id, to_pay))
    await eventually(lambda: s.has_stock([(7, 0)]))

    released = await reserve(stack, [(s.sku_ids[0], 2)], checkout_id=cancelled_id)
    replayed = await reserve(stack, [(s.sku_ids[0], 3)], checkout_id=paid_id)
    assert (released.ok, released.error, released.lines) == (False, "expired", [])
    assert replayed == to_pay
    assert await s.stock() == [(7, 0)]


async def test_payment_after_expiry_takes_available_units_or_records_an_oversell(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 3, 3)
    late_id = str(uuid.uuid4())
    late = await reserve(stack, [(s.sku_ids[0], 2), (s.sku_ids[1], 2)], checkout_id=late_id, hold_s=30)
    stack.clock.advance(31)
    await eventually(lambda: s.has_stock([(3, 0), (3, 0)]))
    # Meanwhile someone else takes all of the second SKU.
    other = await reserve(stack, [(s.sku_ids[1], 3)])
    assert other.ok

    await publish(stack, paid(late_id, s.merchant_id, late))
    await eventually(lambda: s.has_stock([(1, 0), (3, 3)]))
    async with stack.client("shop", s.token) as client:
        shortfalls = (await client.get("/seller/stock-shortfalls")).json()["items"]
    assert [(x["sku_id"], x["quantity"]) for x in shortfalls] == [(s.sku_ids[1], 2)]
    # Paid is paid: a retried reserve of this checkout answers its lines again, and holds nothing more.
    replay = await reserve(stack, [(s.sku_ids[0], 2), (s.sku_ids[1], 2)], checkout_id=late_id)
    assert (replay.ok, replay.lines) == (True, late.lines)
    assert await s.stock() == [(1, 0), (3, 3)]


async def test_stock_on_hand_cannot_go_below_what_buyers_hold(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    assert (await reserve(stack, [(s.sku_ids[0], 4)])).ok
    async with stack.client("shop", s.token) as client:
        below = await client.patch(f"/seller/skus/{s.sku_ids[0]}", json={"stock_on_hand": 3})
        exact = await client.patch(f"/seller/skus/{s.sku_ids[0]}", json={"stock_on_hand": 4})
    assert assert_problem(below, 409, "stock-below-reserved", field="stock_on_hand")["stock_reserved"] == 4
    assert exact.status_code == 200
    assert await s.stock() == [(4, 4)]
    assert (await reserve(stack, [(s.sku_ids[0], 1)])).error == "insufficient_stock"
