"""Deal holds for checkout over NATS request/reply (rpc.local.deal.reserve.v1): all items or none, within the deal's
total and the buyer's limit, idempotent on the checkout; committed by orders' OrderPaid, released by OrderCancelled,
CheckoutAbandoned or the hold's expiry."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

from libs.contracts import (
    RESERVE_DEALS,
    CheckoutAbandoned,
    OrderCancelled,
    OrderLine,
    OrderPaid,
    ReserveDealItem,
    ReserveDeals,
    ReserveDealsReply,
)
from tests.harness import Stack, eventually, publish
from tests.integration.local_life.support import merchant, new_deal, new_store

SERVICES = ("local_life",)


async def seller(stack: Stack) -> dict[str, Any]:
    merchant_id, token = merchant(stack)
    store = await new_store(stack, token)
    return {"merchant_id": merchant_id, "token": token, "store_id": store["store_id"]}


async def deal(stack: Stack, shop: dict[str, Any], **fields: Any) -> dict[str, Any]:
    fields.setdefault("store_ids", [shop["store_id"]])
    return await new_deal(stack, shop["token"], publish=True, **fields)


async def reserve(
    stack: Stack,
    items: list[tuple[str, int]],
    *,
    buyer_id: str = "buyer-1",
    checkout_id: str | None = None,
    hold_s: float = 60,
    answer_by: datetime | None = None,
    room_id: str | None = None,
) -> ReserveDealsReply:
    request = ReserveDeals(
        checkout_id=checkout_id or str(uuid.uuid4()),
        buyer_id=buyer_id,
        items=[ReserveDealItem(deal_id=d, quantity=q, room_id=room_id) for d, q in items],
        hold_until=stack.clock.now() + timedelta(seconds=hold_s),
        answer_by=answer_by,
    )
    return await stack.apps["local_life"].runtime.bus.request(RESERVE_DEALS, request, ReserveDealsReply)


async def sold(stack: Stack, deal_id: str) -> int:
    return await stack.apps["local_life"].runtime.db.fetchval("SELECT sold FROM deals WHERE deal_id = $1", deal_id)


async def statuses(stack: Stack, checkout_id: str) -> list[str]:
    rows = await stack.apps["local_life"].runtime.db.fetch(
        "SELECT status FROM deal_holds WHERE checkout_id = $1 ORDER BY position", checkout_id
    )
    return [r["status"] for r in rows]


async def sold_becomes(stack: Stack, deal_id: str, expected: int) -> None:
    async def check() -> bool:
        return await sold(stack, deal_id) == expected

    await eventually(check)


def lines_of(reply: ReserveDealsReply) -> list[OrderLine]:
    return [
        OrderLine(
            sku_id=str(uuid.uuid4()),
            product_id=str(uuid.uuid4()),
            title=line.title,
            sku_name="Deal",
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
            amount_minor=line.unit_price_minor * line.quantity,
            room_id=line.room_id,
            deal_id=line.deal_id,
        )
        for line in reply.lines
    ]


def paid(checkout_id: str, merchant_id: str, reply: ReserveDealsReply, buyer_id: str = "buyer-1") -> OrderPaid:
    lines = lines_of(reply)
    return OrderPaid(
        order_id=str(uuid.uuid4()),
        checkout_id=checkout_id,
        payment_id=str(uuid.uuid4()),
        buyer_id=buyer_id,
        merchant_id=merchant_id,
        lines=lines,
        amount_minor=sum(line.amount_minor for line in lines),
        currency="CNY",
        paid_at=datetime.now().astimezone(),
    )


async def test_reserve_answers_priced_lines_and_counts_them_sold(stack: Stack) -> None:
    shop = await seller(stack)
    hotpot = await deal(stack, shop, total_quantity=10, price_minor=9900)
    spa = await deal(stack, shop, title="Spa for one", price_minor=19900, original_value_minor=29900)
    reply = await reserve(stack, [(hotpot["deal_id"], 2), (spa["deal_id"], 1), (hotpot["deal_id"], 1)], room_id="r1")
    assert reply.ok, reply
    assert [(x.deal_id, x.quantity, x.unit_price_minor, x.currency, x.merchant_id, x.room_id) for x in reply.lines] == [
        (hotpot["deal_id"], 3, 9900, "CNY", shop["merchant_id"], "r1"),
        (spa["deal_id"], 1, 19900, "CNY", shop["merchant_id"], "r1"),
    ]
    assert reply.lines[1].title == "Spa for one"
    assert (await sold(stack, hotpot["deal_id"]), await sold(stack, spa["deal_id"])) == (3, 1)


async def test_refusals_name_the_item_and_hold_nothing(stack: Stack) -> None:
    shop = await seller(stack)
    plenty = await deal(stack, shop, total_quantity=100)
    scarce = await deal(stack, shop, total_quantity=3)
    draft = await new_deal(stack, shop["token"], store_ids=[shop["store_id"]])
    dollars = await deal(stack, shop, currency="USD")

    short = await reserve(stack, [(plenty["deal_id"], 2), (scarce["deal_id"], 4)])
    assert (short.ok, short.error, short.item_index, short.available) == (False, "sold_out", 1, 3)
    unknown = await reserve(stack, [(plenty["deal_id"], 1), (draft["deal_id"], 1)])
    assert (unknown.ok, unknown.error, unknown.item_index) == (False, "unknown_deal", 1)
    nowhere = await reserve(stack, [(str(uuid.uuid4()), 1)])
    assert (nowhere.error, nowhere.item_index) == ("unknown_deal", 0)
    mixed = await reserve(stack, [(plenty["deal_id"], 1), (dollars["deal_id"], 1)])
    assert (mixed.error, mixed.item_index) == ("mixed_currency", 1)
    zero = await reserve(stack, [(plenty["deal_id"], 0)])
    assert (zero.error, zero.item_index) == ("invalid_quantity", 0)
    empty = await reserve(stack, [])
    assert empty.error == "invalid_request"
    # All or none: nothing of the first item was held either.
    assert (await sold(stack, plenty["deal_id"]), await sold(stack, scarce["deal_id"])) == (0, 0)


async def test_per_buyer_limit_counts_held_units_across_checkouts(stack: Stack) -> None:
    shop = await seller(stack)
    limited = await deal(stack, shop, per_buyer_limit=2)
    assert (await reserve(stack, [(limited["deal_id"], 2)], buyer_id="ann")).ok
    more = await reserve(stack, [(limited["deal_id"], 1)], buyer_id="ann")
    assert (more.ok, more.error, more.item_index, more.limit, more.held) == (False, "buyer_limit", 0, 2, 2)
    assert (await reserve(stack, [(limited["deal_id"], 2)], buyer_id="bob")).ok
    assert await sold(stack, limited["deal_id"]) == 4


async def test_replay_answers_the_same_and_other_items_conflict(stack: Stack) -> None:
    shop = await seller(stack)
    one = await deal(stack, shop, total_quantity=5)
    other = await deal(stack, shop)
    checkout_id = str(uuid.uuid4())
    first = await reserve(stack, [(one["deal_id"], 2)], checkout_id=checkout_id)
    assert first.ok
    # The deal is ended since: the held checkout still answers the same lines.
    async with stack.client("local_life", shop["token"]) as client:
        ended = await client.post(f"/seller/deals/{one['deal_id']}/end")
    assert ended.status_code == 200, ended.text
    again = await reserve(stack, [(one["deal_id"], 2)], checkout_id=checkout_id)
    assert again == first
    assert await sold(stack, one["deal_id"]) == 2
    conflict = await reserve(stack, [(one["deal_id"], 2), (other["deal_id"], 1)], checkout_id=checkout_id)
    assert (conflict.ok, conflict.error) == (False, "checkout_conflict")
    stranger = await reserve(stack, [(one["deal_id"], 2)], checkout_id=checkout_id, buyer_id="someone-else")
    assert (stranger.ok, stranger.error) == (False, "checkout_conflict")
    assert (await sold(stack, one["deal_id"]), await sold(stack, other["deal_id"])) == (2, 0)


async def test_a_caller_that_stopped_waiting_gets_too_late_and_nothing_held(stack: Stack) -> None:
    shop = await seller(stack)
    one = await deal(stack, shop, total_quantity=5)
    checkout_id = str(uuid.uuid4())
    late = await reserve(
        stack, [(one["deal_id"], 1)], checkout_id=checkout_id, answer_by=stack.clock.now() - timedelta(seconds=1)
    )
    assert (late.ok, late.error) == (False, "too_late")
    assert await sold(stack, one["deal_id"]) == 0
    assert await statuses(stack, checkout_id) == []


async def test_cancelled_order_frees_its_units_once_and_a_replay_says_expired(stack: Stack) -> None:
    shop = await seller(stack)
    one = await deal(stack, shop, total_quantity=5)
    checkout_id = str(uuid.uuid4())
    reply = await reserve(stack, [(one["deal_id"], 3)], checkout_id=checkout_id)
    assert reply.ok
    lines = lines_of(reply)
    event = OrderCancelled(
        order_id=str(uuid.uuid4()),
        checkout_id=checkout_id,
        buyer_id="buyer-1",
        merchant_id=shop["merchant_id"],
        lines=lines,
        reason="payment_timeout",
    )
    await publish(stack, event)
    await sold_becomes(stack, one["deal_id"], 0)
    assert await statuses(stack, checkout_id) == ["released"]
    # Someone else takes the freed units; the cancellation arriving again (republished) frees nothing more.
    assert (await reserve(stack, [(one["deal_id"], 5)], buyer_id="buyer-2")).ok
    await publish(stack, msgspec.structs.replace(event, event_id=str(uuid.uuid4())))
    marker_deal = await deal(stack, shop)
    marker = str(uuid.uuid4())
    marked = await reserve(stack, [(marker_deal["deal_id"], 1)], checkout_id=marker)
    assert marked.ok
    await publish(stack, CheckoutAbandoned(checkout_id=marker, buyer_id="buyer-1", reason="coupon_lost"))
    await sold_becomes(stack, marker_deal["deal_id"], 0)
    assert await sold(stack, one["deal_id"]) == 5
    replay = await reserve(stack, [(one["deal_id"], 3)], checkout_id=checkout_id)
    assert (replay.ok, replay.error) == (False, "expired")


async def test_abandoned_checkout_frees_its_units(stack: Stack) -> None:
    shop = await seller(stack)
    one = await deal(stack, shop, total_quantity=5)
    two = await deal(stack, shop)
    checkout_id = str(uuid.uuid4())
    assert (await reserve(stack, [(one["deal_id"], 2), (two["deal_id"], 1)], checkout_id=checkout_id)).ok
    await publish(stack, CheckoutAbandoned(checkout_id=checkout_id, buyer_id="buyer-1", reason="coupon_lost"))
    await sold_becomes(stack, one["deal_id"], 0)
    await sold_becomes(stack, two["deal_id"], 0)
    assert await statuses(stack, checkout_id) == ["released", "released"]
    assert (await reserve(stack, [(one["deal_id"], 5)])).ok


async def test_paid_order_keeps_its_units_after_the_hold_would_have_lapsed(stack: Stack) -> None:
    shop = await seller(stack)
    one = await deal(stack, shop, total_quantity=5)
    checkout_id = str(uuid.uuid4())
    reply = await reserve(stack, [(one["deal_id"], 2)], checkout_id=checkout_id, hold_s=60)
    assert reply.ok
    event = paid(checkout_id, shop["merchant_id"], reply)
    await publish(stack, event)

    async def committed() -> bool:
        return await statuses(stack, checkout_id) == ["committed"]

    await eventually(committed)
    await publish(stack, event)  # redelivered: still once
    stack.clock.advance(61)
    # A later hold that lapses proves the expiry job ran meanwhile; the paid units stay counted.
    probe = str(uuid.uuid4())
    assert (await reserve(stack, [(one["deal_id"], 1)], checkout_id=probe, hold_s=1)).ok
    stack.clock.advance(2)

    async def probe_released() -> bool:
        return await statuses(stack, probe) == ["released"]

    await eventually(probe_released)
    assert await sold(stack, one["deal_id"]) == 2
    assert await statuses(stack, checkout_id) == ["committed"]
    again = await reserve(stack, [(one["deal_id"], 2)], checkout_id=checkout_id)
    assert again == reply


async def test_expiry_releases_by_the_clock_and_a_late_payment_still_counts(stack: Stack) -> None:
    shop = await seller(stack)
    one = await deal(stack, shop, total_quantity=5)
    checkout_id = str(uuid.uuid4())
    reply = await reserve(stack, [(one["deal_id"], 2)], checkout_id=checkout_id, hold_s=60)
    assert reply.ok
    await asyncio.sleep(0.3)
    assert await sold(stack, one["deal_id"]) == 2  # not before its time
    stack.clock.advance(61)
    await sold_becomes(stack, one["deal_id"], 0)
    assert await statuses(stack, checkout_id) == ["released"]
    # The payment was on its way: the units are counted sold again, since the deal has them left.
    await publish(stack, paid(checkout_id, shop["merchant_id"], reply))
    await sold_becomes(stack, one["deal_id"], 2)
    assert await statuses(stack, checkout_id) == ["committed"]


async def test_racing_buyers_for_the_last_units_exactly_that_many_win(stack: Stack) -> None:
    shop = await seller(stack)
    last = 3
    one = await deal(stack, shop, total_quantity=last)
    replies = await asyncio.gather(
        *(reserve(stack, [(one["deal_id"], 1)], buyer_id=f"buyer-{i}") for i in range(last + 1))
    )
    assert sum(r.ok for r in replies) == last
    assert [r.error for r in replies if not r.ok] == ["sold_out"]
    assert await sold(stack, one["deal_id"]) == last
