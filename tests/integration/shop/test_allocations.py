"""Flash-sale stock allocations over NATS request/reply, sold and given back through real events."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import msgspec

from libs.contracts import (
    ALLOCATE_STOCK,
    AllocateStock,
    AllocateStockReply,
    Event,
    FlashSaleUnitsReturned,
    OrderCancelled,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    StockChanged,
    StockCommitted,
)
from tests.harness import Infra, Stack, eventually, publish
from tests.integration.shop.support import Seller, capture, order_lines, reserve, seller

SERVICES = ("shop",)


async def allocate(
    stack: Stack,
    s: Seller,
    quantity: int,
    *,
    allocation_id: str | None = None,
    sku: int = 0,
    sku_id: str | None = None,
    merchant_id: str | None = None,
    answer_within_s: float | None = None,
) -> AllocateStockReply:
    """Ask shop over its public NATS contract, as live does when a host creates a flash sale."""
    request = AllocateStock(
        allocation_id=str(uuid.uuid4()) if allocation_id is None else allocation_id,
        merchant_id=merchant_id or s.merchant_id,
        sku_id=sku_id or s.sku_ids[sku],
        quantity=quantity,
        answer_by=None if answer_within_s is None else stack.clock.now() + timedelta(seconds=answer_within_s),
    )
    return await stack.apps["shop"].runtime.bus.request(ALLOCATE_STOCK, request, AllocateStockReply)


def sale_line(s: Seller, sale_id: str, quantity: int, *, sku: int = 0, price: int = 500) -> OrderLine:
    return OrderLine(
        sku_id=s.sku_ids[sku],
        product_id=s.product["product_id"],
        title="Tee",
        sku_name=f"S{sku}",
        quantity=quantity,
        unit_price_minor=price,
        amount_minor=price * quantity,
        flash_sale_id=sale_id,
        admission_id=str(uuid.uuid4()),
    )


def facts(s: Seller, lines: list[OrderLine], checkout_id: str | None = None) -> dict:
    return dict(
        order_id=str(uuid.uuid4()),
        checkout_id=checkout_id or str(uuid.uuid4()),
        buyer_id="buyer-1",
        merchant_id=s.merchant_id,
        lines=lines,
    )


def paid(s: Seller, *lines: OrderLine, checkout_id: str | None = None) -> OrderPaid:
    amount = sum(line.amount_minor for line in lines)
    return OrderPaid(
        **facts(s, list(lines), checkout_id),
        payment_id=str(uuid.uuid4()),
        amount_minor=amount,
        currency="USD",
        paid_at=datetime.now(UTC),
    )


def returned(s: Seller, sale_id: str, quantity: int, *, sku: int = 0) -> FlashSaleUnitsReturned:
    return FlashSaleUnitsReturned(
        sale_id=sale_id, merchant_id=s.merchant_id, sku_id=s.sku_ids[sku], quantity=quantity, reason="sale_ended"
    )


async def allocation(stack: Stack, allocation_id: str) -> tuple[int, int, int] | None:
    """(quantity, committed, released) of an allocation, straight from shop's table (no API shows it)."""
    row = await stack.apps["shop"].runtime.db.fetchrow(
        "SELECT quantity, committed, released FROM allocations WHERE allocation_id = $1", allocation_id
    )
    return (row["quantity"], row["committed"], row["released"]) if row else None


async def applied(stack: Stack, consumer: str, event: Event) -> bool:
    """The consumer's handler succeeded for this event (its inbox row commits only with the effect)."""
    return bool(
        await stack.apps["shop"].runtime.db.fetchval(
            "SELECT true FROM inbox WHERE consumer = $1 AND event_id = $2", consumer, event.event_id
        )
    )


async def caught_up(stack: Stack, consumer: str) -> bool:
    """The consumer has nothing waiting and nothing unacknowledged on the ORDERS stream."""
    bus = stack.apps["shop"].runtime.bus
    try:
        info = await bus.js.consumer_info(bus.stream("ORDERS"), consumer)
    except Exception:  # not created yet
        return False
    return info.num_pending == 0 and info.num_ack_pending == 0 and (info.delivered.stream_seq or 0) > 0


async def dead_letters(stack: Stack, consumer: str) -> list[str]:
    rows = await stack.apps["shop"].runtime.db.fetch("SELECT error FROM dead_letters WHERE consumer = $1", consumer)
    return [r["error"] for r in rows]


async def test_allocation_takes_units_out_of_available_stock(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, prices=(2599,))
    changes, stop = await capture(stack, StockChanged.SUBJECT)
    try:
        sale_id = str(uuid.uuid4())
        reply = await allocate(stack, s, 4, allocation_id=sale_id)
        assert reply == AllocateStockReply(
            ok=True, product_id=s.product["product_id"], title="Tee", sku_name="S0", price_minor=2599, currency="USD"
        )
        assert await s.stock() == [(10, 4)]
        async with stack.client("shop") as anonymous:
            public = (await anonymous.get(f"/products/{s.product['product_id']}")).json()
        assert public["skus"][0]["stock_available"] == 6
        assert await allocation(stack, sale_id) == (4, 0, 0)
        ours = await eventually(lambda: [c for c in changes if c["sku_id"] == s.sku_ids[0]])
        assert (ours[0]["stock_on_hand"], ours[0]["stock_reserved"], ours[0]["stock_available"]) == (10, 4, 6)
        # Buyers of the ordinary checkout now see only what the sale left.
        assert (await reserve(stack, [(s.sku_ids[0], 7)])).error == "insufficient_stock"
        assert (await reserve(stack, [(s.sku_ids[0], 6)])).ok
    finally:
        await stop()


async def test_allocation_short_of_stock_is_refused_with_what_is_available_and_holds_nothing(
    stack: Stack, infra: Infra
) -> None:
    s = await seller(stack, infra, 5)
    assert (await reserve(stack, [(s.sku_ids[0], 2)])).ok
    sale_id = str(uuid.uuid4())
    short = await allocate(stack, s, 4, allocation_id=sale_id)
    assert (short.ok, short.error, short.available) == (False, "insufficient_stock", 3)
    assert short.product_id is None
    assert await s.stock() == [(5, 2)]
    assert await allocation(stack, sale_id) is None
    # Nothing of it was kept: the same sale id asks again for what there is, and gets it.
    fits = await allocate(stack, s, 3, allocation_id=sale_id)
    assert fits.ok, fits
    assert await s.stock() == [(5, 5)]


async def test_allocating_again_with_the_same_id_answers_the_same_and_holds_once(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    sale_id = str(uuid.uuid4())
    first = await allocate(stack, s, 4, allocation_id=sale_id)
    again = await allocate(stack, s, 4, allocation_id=sale_id)
    assert first.ok
    assert again == first
    # Retries racing each other (a caller that timed out and asked again at once) hold once too.
    twins_id = str(uuid.uuid4())
    twins = await asyncio.gather(*(allocate(stack, s, 3, allocation_id=twins_id) for _ in range(8)))
    assert all(t == first for t in twins)
    assert await s.stock() == [(10, 7)]
    assert await allocation(stack, twins_id) == (3, 0, 0)


async def test_the_same_allocation_id_for_other_units_is_a_conflict(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, 10)
    sale_id = str(uuid.uuid4())
    assert (await allocate(stack, s, 4, allocation_id=sale_id)).ok
    more = await allocate(stack, s, 5, allocation_id=sale_id)
    other_sku = await allocate(stack, s, 4, allocation_id=sale_id, sku=1)
    assert (more.ok, more.error) == (False, "allocation_conflict")
    assert (other_sku.ok, other_sku.error) == (False, "allocation_conflict")
    assert await s.stock() == [(10, 4), (10, 0)]
    assert await allocation(stack, sale_id) == (4, 0, 0)


async def test_another_merchants_or_a_missing_sku_is_unknown_and_bad_quantities_are_refused(
    stack: Stack, infra: Infra
) -> None:
    mine = await seller(stack, infra, 10)
    theirs = await seller(stack, infra, 10)
    other_merchant = await allocate(stack, mine, 2, sku_id=theirs.sku_ids[0])
    missing = await allocate(stack, mine, 2, sku_id=str(uuid.uuid4()))
    garbage = await allocate(stack, mine, 2, sku_id="not-a-sku")
    zero = await allocate(stack, mine, 0)
    negative = await allocate(stack, mine, -3)
    no_id = await allocate(stack, mine, 1, allocation_id="")
    nul_id = await allocate(stack, mine, 1, allocation_id="sale\x00")
    assert [(r.ok, r.error) for r in (other_merchant, missing, garbage)] == [(False, "unknown_sku")] * 3
    assert [(r.ok, r.error) for r in (zero, negative)] == [(False, "invalid_quantity")] * 2
    assert [(r.ok, r.error) for r in (no_id, nul_id)] == [(False, "invalid_request")] * 2
    assert await mine.stock() == [(10, 0)]
    assert await theirs.stock() == [(10, 0)]


async def test_an_allocation_answered_after_the_caller_gave_up_holds_nothing(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    sale_id = str(uuid.uuid4())
    late = await allocate(stack, s, 2, allocation_id=sale_id, answer_within_s=-1)
    assert (late.ok, late.error) == (False, "too_late")
    assert await s.stock() == [(5, 0)]
    assert await allocation(stack, sale_id) is None
    in_time = await allocate(stack, s, 2, allocation_id=sale_id, answer_within_s=5)
    assert in_time.ok, in_time
    assert await s.stock() == [(5, 2)]


async def test_concurrent_allocations_and_reservations_never_hold_more_than_stock(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 11)
    sales = [allocate(stack, s, 2) for _ in range(12)]
    checkouts = [reserve(stack, [(s.sku_ids[0], 1)]) for _ in range(12)]
    replies = await asyncio.gather(*(x for pair in zip(sales, checkouts, strict=True) for x in pair))
    allocated = sum(2 for r in replies if isinstance(r, AllocateStockReply) and r.ok)
    reserved = sum(1 for r in replies if not isinstance(r, AllocateStockReply) and r.ok)
    refusals = {r.error for r in replies if not r.ok}
    assert refusals == {"insufficient_stock"}
    held = allocated + reserved
    assert await s.stock() == [(11, held)]
    # Refused only when short: what is left cannot cover the smallest ask that was refused.
    smallest_refused = min(2 if isinstance(r, AllocateStockReply) else 1 for r in replies if not r.ok)
    assert 11 - held < smallest_refused


async def test_paid_flash_sale_order_commits_from_the_allocation_once(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    sale_id = str(uuid.uuid4())
    assert (await allocate(stack, s, 5, allocation_id=sale_id)).ok
    committed, stop = await capture(stack, StockCommitted.SUBJECT)
    try:
        event = paid(s, sale_line(s, sale_id, 2))
        await publish(stack, event)
        await publish(stack, event)  # the relay publishing it again within the duplicate window
        await eventually(lambda: [c for c in committed if c["order_id"] == event.order_id])
        assert await s.stock() == [(8, 3)]
        assert await allocation(stack, sale_id) == (5, 2, 0)

        # Past the duplicate window (a new Nats-Msg-Id, same event id), then the same fact under a new event id.
        await publish(stack, event, msg_id=f"{event.event_id}-again")
        same_fact = msgspec.structs.replace(event, event_id=str(uuid.uuid4()))
        await publish(stack, same_fact)
        await eventually(lambda: applied(stack, "shop__commit_paid_stock", same_fact))
        assert await s.stock() == [(8, 3)]
        assert await allocation(stack, sale_id) == (5, 2, 0)
        ours = [c for c in committed if c["order_id"] == event.order_id]
        assert len(ours) == 1
        assert [(x["sku_id"], x["quantity"]) for x in ours[0]["lines"]] == [(s.sku_ids[0], 2)]
    finally:
        await stop()


async def test_a_paid_order_commits_each_line_by_its_kind(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10, 10)
    checkout_id, sale_id = str(uuid.uuid4()), str(uuid.uuid4())
    held = await reserve(stack, [(s.sku_ids[0], 3)], checkout_id=checkout_id)
    assert held.ok
    assert (await allocate(stack, s, 4, allocation_id=sale_id, sku=1)).ok
    event = paid(s, *order_lines(held), sale_line(s, sale_id, 1, sku=1), checkout_id=checkout_id)
    await publish(stack, event)
    await eventually(lambda: s.has_stock([(7, 0), (9, 3)]))
    assert await allocation(stack, sale_id) == (4, 1, 0)


async def test_a_paid_order_the_sale_cannot_cover_is_recorded_as_an_oversell_not_retried(
    stack: Stack, infra: Infra
) -> None:
    s = await seller(stack, infra, 2)
    sale_id = str(uuid.uuid4())
    assert (await allocate(stack, s, 2, allocation_id=sale_id)).ok
    event = paid(s, sale_line(s, sale_id, 3))
    await publish(stack, event)
    await eventually(lambda: applied(stack, "shop__commit_paid_stock", event))
    async with stack.client("shop", s.token) as client:
        shortfalls = (await client.get("/seller/stock-shortfalls")).json()["items"]
    assert [(x["order_id"], x["sku_id"], x["quantity"]) for x in shortfalls] == [(event.order_id, s.sku_ids[0], 3)]
    assert await s.stock() == [(2, 2)]
    assert await allocation(stack, sale_id) == (2, 0, 0)
    assert await dead_letters(stack, "shop__commit_paid_stock") == []


async def test_returned_units_go_back_to_available_stock_once(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    sale_id = str(uuid.uuid4())
    assert (await allocate(stack, s, 5, allocation_id=sale_id)).ok
    changes, stop = await capture(stack, StockChanged.SUBJECT)
    try:
        back = returned(s, sale_id, 3)
        await publish(stack, back)
        await eventually(lambda: s.has_stock([(10, 2)]))
        assert await allocation(stack, sale_id) == (5, 0, 3)
        change = await eventually(lambda: [c for c in changes if c["sku_id"] == s.sku_ids[0]])
        assert change[-1]["stock_available"] == 8

        await publish(stack, back, msg_id=f"{back.event_id}-again")
        # A later return of the last two units, applied after the repeat: the repeat changed nothing.
        rest = returned(s, sale_id, 2)
        await publish(stack, rest)
        await eventually(lambda: applied(stack, "shop__take_back_flash_sale_units", rest))
        assert await s.stock() == [(10, 0)]
        assert await allocation(stack, sale_id) == (5, 0, 5)
    finally:
        await stop()


async def test_a_return_of_units_the_sale_does_not_hold_is_dead_lettered_and_changes_nothing(
    stack: Stack, infra: Infra
) -> None:
    s = await seller(stack, infra, 10)
    sale_id = str(uuid.uuid4())
    assert (await allocate(stack, s, 3, allocation_id=sale_id)).ok
    sold = paid(s, sale_line(s, sale_id, 2))
    await publish(stack, sold)
    await eventually(lambda: s.has_stock([(8, 1)]))
    # Two back when only one is left unsold would free a unit a buyer paid for.
    await publish(stack, returned(s, sale_id, 2))
    errors = await eventually(lambda: dead_letters(stack, "shop__take_back_flash_sale_units"), timeout=30)
    assert sale_id in errors[0]
    assert await s.stock() == [(8, 1)]
    assert await allocation(stack, sale_id) == (3, 2, 0)


async def test_placed_and_cancelled_flash_sale_orders_leave_stock_and_carts_alone(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 10)
    sale_id = str(uuid.uuid4())
    assert (await allocate(stack, s, 3, allocation_id=sale_id)).ok
    buyer = infra.token("buyer", sub="flash-buyer")
    async with stack.client("shop", buyer) as client:
        assert (await client.post("/cart/items", json={"sku_id": s.sku_ids[0], "quantity": 1})).status_code == 201
    lines = [sale_line(s, sale_id, 1)]
    order = facts(s, lines) | {"buyer_id": "flash-buyer"}
    placed = OrderPlaced(
        **order,
        payment_id=str(uuid.uuid4()),
        amount_minor=500,
        currency="USD",
        pay_by=datetime.now(UTC) + timedelta(seconds=300),
    )
    cancelled = OrderCancelled(**order, reason="payment_timeout")
    await publish(stack, placed)
    await publish(stack, cancelled)
    # Nothing to do in shop for either: both are acknowledged without a transaction (no inbox row either).
    await eventually(lambda: caught_up(stack, "shop__attach_orders"))
    await eventually(lambda: caught_up(stack, "shop__release_cancelled_stock"))
    assert not await applied(stack, "shop__attach_orders", placed)
    # Live decides where a cancelled sale unit goes; shop keeps it in the allocation until told.
    assert await s.stock() == [(10, 3)]
    assert await allocation(stack, sale_id) == (3, 0, 0)
    async with stack.client("shop", buyer) as client:
        assert [i["sku_id"] for i in (await client.get("/cart")).json()["items"]] == [s.sku_ids[0]]
    assert await dead_letters(stack, "shop__attach_orders") == []
    assert await dead_letters(stack, "shop__release_cancelled_stock") == []
