"""Units back on hand after the sale: orders' cancellations after payment and aftersales' returns, driven by real
events on the bus; each line put back once, whatever comes twice."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from libs.contracts import (
    ALLOCATE_STOCK,
    AllocateStock,
    AllocateStockReply,
    CancelledLine,
    OrderCancelledAfterPayment,
    OrderLine,
    OrderPaid,
    ReturnedLine,
    ReturnReceived,
    StockChanged,
)
from libs.ids import derived_id
from tests.harness import Infra, Stack, delivered_twice, eventually, publish
from tests.integration.shop.support import Seller, capture, order_lines, reserve, seller

SERVICES = ("shop",)


def _paid(s: Seller, checkout_id: str, lines: list[OrderLine]) -> OrderPaid:
    return OrderPaid(
        order_id=str(uuid.uuid4()),
        checkout_id=checkout_id,
        payment_id=str(uuid.uuid4()),
        buyer_id="buyer-1",
        merchant_id=s.merchant_id,
        lines=lines,
        amount_minor=sum(line.amount_minor for line in lines),
        currency="USD",
        paid_at=datetime.now(UTC),
    )


async def bought(stack: Stack, s: Seller, *quantities: int) -> OrderPaid:
    """A checkout of `quantities[i]` units of SKU i, paid: its units leave stock (committed)."""
    checkout_id = str(uuid.uuid4())
    before = await s.stock()
    reply = await reserve(stack, [(s.sku_ids[i], q) for i, q in enumerate(quantities) if q], checkout_id=checkout_id)
    assert reply.ok, reply
    order = _paid(s, checkout_id, order_lines(reply))
    await publish(stack, order)
    after = [(on_hand - (quantities[i] if i < len(quantities) else 0), 0) for i, (on_hand, _) in enumerate(before)]
    await eventually(lambda: s.has_stock(after))
    return order


def cancel(order: OrderPaid, *units: tuple[int, int], flash_sale_id: str | None = None) -> OrderCancelledAfterPayment:
    """The buyer's cancel of `(line_no, quantity)` units of the order's lines (line_no from 1, in order)."""
    return OrderCancelledAfterPayment(
        order_id=order.order_id,
        checkout_id=order.checkout_id,
        buyer_id=order.buyer_id,
        merchant_id=order.merchant_id,
        lines=order.lines,
        reason="buyer_cancelled",
        cancelled_lines=[
            CancelledLine(
                line_no=line_no,
                sku_id=order.lines[line_no - 1].sku_id,
                quantity=quantity,
                flash_sale_id=flash_sale_id,
            )
            for line_no, quantity in units
        ],
        whole_order=True,
        grant_id=derived_id("grant", order.order_id, "cancel"),
    )


def returned(order: OrderPaid, *units: tuple[int, int, int]) -> ReturnReceived:
    """A case's return of `(line_no, quantity, restockable)` units of the order's lines."""
    return ReturnReceived(
        case_id=str(uuid.uuid4()),
        order_id=order.order_id,
        merchant_id=order.merchant_id,
        lines=[
            ReturnedLine(
                line_no=line_no, sku_id=order.lines[line_no - 1].sku_id, quantity=quantity, restockable=restockable
            )
            for line_no, quantity, restockable in units
        ],
    )


async def history(s: Seller, sku: int = 0) -> list[tuple]:
    """The SKU's history as its merchant reads it: (field, old, new, changed_by, reason, ref)."""
    async with s.stack.client("shop", s.token) as client:
        response = await client.get(f"/seller/skus/{s.sku_ids[sku]}/changes")
    assert response.status_code == 200, response.text
    return [
        (c["field"], c["old_value"], c["new_value"], c["changed_by"], c["reason"], c["ref"])
        for c in response.json()["items"]
    ]


async def applied(stack: Stack, consumer: str, event_id: str) -> bool:
    """The consumer's handler succeeded for this event (its inbox row commits only with the effect)."""
    return bool(
        await stack.apps["shop"].runtime.db.fetchval(
            "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event_id
        )
    )


# --- cancelled after payment ---------------------------------------------------------------


async def test_cancelled_units_go_back_on_hand_once_even_when_delivered_twice(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, 5)
    order = await bought(stack, s, 3, 2)
    marker = await bought(stack, s, 1)
    assert await s.stock() == [(6, 0), (3, 0)]
    changes, stop = await capture(stack, StockChanged.SUBJECT)
    try:
        cancelled = cancel(order, (1, 3), (2, 2))
        await delivered_twice(stack, cancelled)
        # A later cancel on the same consumer, handled in stream order: stock reads (10, 5) only once both deliveries
        # before it were handled and the first put 3 + 2 back once (twice would pass through (12, 7) to (13, 7)).
        await publish(stack, cancel(marker, (1, 1)))
        await eventually(lambda: s.has_stock([(10, 0), (5, 0)]))

        assert (await history(s, 0))[-2:] == [
            ("stock_on_hand", 6, 9, "orders", "cancelled_after_payment", cancelled.grant_id),
            ("stock_on_hand", 9, 10, "orders", "cancelled_after_payment", cancel(marker).grant_id),
        ]
        assert (await history(s, 1))[-1] == (
            "stock_on_hand",
            3,
            5,
            "orders",
            "cancelled_after_payment",
            cancelled.grant_id,
        )
        announced = await eventually(
            lambda: [
                (c["stock_on_hand"], c["stock_reserved"], c["stock_available"])
                for c in changes
                if c["sku_id"] == s.sku_ids[1] and c["stock_on_hand"] >= 5 and not c["stock_reserved"]
            ]
        )
        assert announced == [(5, 0, 5)]
    finally:
        await stop()


async def test_the_same_cancel_under_a_new_event_id_puts_nothing_back_again(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    order = await bought(stack, s, 4)
    cancelled = cancel(order, (1, 4))
    await publish(stack, cancelled)
    await eventually(lambda: s.has_stock([(10, 0)]))

    again = msgspec.structs.replace(cancelled, event_id=str(uuid.uuid4()))
    await publish(stack, again)
    await eventually(lambda: applied(stack, "shop__cancelled_paid_orders", again.event_id))
    assert await s.stock() == [(10, 0)]
    assert [h for h in await history(s) if h[4] == "cancelled_after_payment"] == [
        ("stock_on_hand", 6, 10, "orders", "cancelled_after_payment", cancelled.grant_id)
    ]


async def allocate(stack: Stack, s: Seller, quantity: int) -> str:
    sale_id = str(uuid.uuid4())
    request = AllocateStock(allocation_id=sale_id, merchant_id=s.merchant_id, sku_id=s.sku_ids[0], quantity=quantity)
    reply = await stack.apps["shop"].runtime.bus.request(ALLOCATE_STOCK, request, AllocateStockReply)
    assert reply.ok, reply
    return sale_id


async def allocation(stack: Stack, sale_id: str) -> tuple[int, int, int]:
    """(quantity, committed, released) of a sale's allocation, straight from shop's table (no API shows it)."""
    row = await stack.apps["shop"].runtime.db.fetchrow(
        "SELECT quantity, committed, released FROM allocations WHERE allocation_id = $1", sale_id
    )
    return (row["quantity"], row["committed"], row["released"])


async def test_a_cancelled_flash_sale_unit_goes_back_to_stock_never_to_the_sale(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    sale_id = await allocate(stack, s, 4)
    line = OrderLine(
        sku_id=s.sku_ids[0],
        product_id=s.product["product_id"],
        title="Tee",
        sku_name="S0",
        quantity=1,
        unit_price_minor=500,
        amount_minor=500,
        flash_sale_id=sale_id,
        admission_id=str(uuid.uuid4()),
    )
    order = _paid(s, str(uuid.uuid4()), [line])
    await publish(stack, order)
    await eventually(lambda: s.has_stock([(9, 3)]))  # sold from the sale: off the shelf, out of its hold
    assert await allocation(stack, sale_id) == (4, 1, 0)

    await publish(stack, cancel(order, (1, 1), flash_sale_id=sale_id))
    # Back on the shelf and available to anyone; the sale still holds its 3 unsold units and counts the unit sold.
    await eventually(lambda: s.has_stock([(10, 3)]))
    assert await allocation(stack, sale_id) == (4, 1, 0)


async def test_units_a_paid_order_never_took_from_stock_are_not_put_back(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 3)
    late_id = str(uuid.uuid4())
    late = await reserve(stack, [(s.sku_ids[0], 2)], checkout_id=late_id, hold_s=30)
    stack.clock.advance(31)
    await eventually(lambda: s.has_stock([(3, 0)]))
    assert (await reserve(stack, [(s.sku_ids[0], 3)])).ok  # someone else takes every unit meanwhile
    order = _paid(s, late_id, order_lines(late))
    await publish(stack, order)
    async with stack.client("shop", s.token) as client:

        async def oversold() -> list:
            return (await client.get("/seller/stock-shortfalls")).json()["items"]

        assert [(x["order_id"], x["quantity"]) for x in await eventually(oversold)] == [(order.order_id, 2)]

    cancelled = cancel(order, (1, 2))
    await publish(stack, cancelled)
    await eventually(lambda: applied(stack, "shop__cancelled_paid_orders", cancelled.event_id))
    # The 2 units were never taken off the shelf: putting them back would make stock out of nothing.
    assert await s.stock() == [(3, 3)]
    assert [h for h in await history(s) if h[4] != "edit"] == []


async def test_a_line_naming_an_unknown_sku_is_skipped_and_the_rest_put_back(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    order = await bought(stack, s, 2)
    cancelled = msgspec.structs.replace(
        cancel(order, (1, 2)),
        cancelled_lines=[
            CancelledLine(line_no=1, sku_id=s.sku_ids[0], quantity=2),
            CancelledLine(line_no=2, sku_id=str(uuid.uuid4()), quantity=5),
            CancelledLine(line_no=3, sku_id="not-a-sku", quantity=1),
        ],
    )
    await publish(stack, cancelled)
    await eventually(lambda: applied(stack, "shop__cancelled_paid_orders", cancelled.event_id))
    assert await s.stock() == [(10, 0)]
    dead = await stack.apps["shop"].runtime.db.fetchval(
        "SELECT count(*) FROM dead_letters WHERE consumer = 'shop__cancelled_paid_orders'"
    )
    assert dead == 0


async def test_another_merchants_sku_is_not_put_back(stack: Stack, infra: Infra) -> None:
    s, other = await seller(stack, infra, 10), await seller(stack, infra, 10)
    order = await bought(stack, s, 2)
    # An event claiming the other merchant's SKU for this merchant's order: nothing of this merchant to put back.
    cancelled = msgspec.structs.replace(
        cancel(order, (1, 2)), cancelled_lines=[CancelledLine(line_no=1, sku_id=other.sku_ids[0], quantity=2)]
    )
    await publish(stack, cancelled)
    await eventually(lambda: applied(stack, "shop__cancelled_paid_orders", cancelled.event_id))
    assert (await s.stock(), await other.stock()) == ([(8, 0)], [(10, 0)])


# --- returns -------------------------------------------------------------------------------------


async def test_a_return_puts_back_only_its_restockable_units_once(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    order = await bought(stack, s, 3)
    marker = await bought(stack, s, 1)
    assert await s.stock() == [(6, 0)]

    back, later = returned(order, (1, 3, 2)), returned(marker, (1, 1, 1))  # one of the three came back damaged
    await delivered_twice(stack, back)
    await publish(stack, later)
    # In stream order: (8, 0) after the return, (9, 0) after the later one; a second put-back would pass (10, 0) to
    # (11, 0).
    await eventually(lambda: s.has_stock([(9, 0)]))
    assert [h for h in await history(s) if h[4] == "returned"] == [
        ("stock_on_hand", 6, 8, "aftersales", "returned", back.case_id),
        ("stock_on_hand", 8, 9, "aftersales", "returned", later.case_id),
    ]


async def test_a_return_of_damaged_units_only_puts_nothing_back(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, 10)
    order = await bought(stack, s, 2, 3)
    # More restockable than returned is held to what came back; fewer than none to none.
    back = returned(order, (1, 2, 0), (2, 1, 7))
    await publish(stack, back)
    await eventually(lambda: s.has_stock([(8, 0), (8, 0)]))
    await eventually(lambda: applied(stack, "shop__returns", back.event_id))
    assert [h for h in await history(s, 0) if h[4] == "returned"] == []
    assert [h for h in await history(s, 1) if h[4] == "returned"] == [
        ("stock_on_hand", 7, 8, "aftersales", "returned", back.case_id)
    ]
