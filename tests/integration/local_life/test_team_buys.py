"""Team buys (拼团): seats are held at checkout (N + 1 buyers racing for N seats: N hold one), vouchers are issued to
every member only when the N-th member pays, and a team that does not fill by its deadline refunds each paid member
once (and a member paying after that at once)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any, TypeVar

import msgspec

from libs.contracts import (
    RESERVE_DEALS,
    DealRefundRequested,
    Event,
    OrderCancelled,
    OrderLine,
    OrderPaid,
    ReserveDealItem,
    ReserveDeals,
    ReserveDealsReply,
    TeamFailed,
    TeamFilled,
)
from libs.scheduler import schedule
from tests.harness import Stack, delivered_twice, eventually, paid_order, publish
from tests.integration.local_life.support import merchant, new_deal, new_store

SERVICES = ("local_life",)

E = TypeVar("E", bound=Event)

WINDOW_S = 3600


async def team_deal(stack: Stack, team_size: int, **fields: Any) -> dict[str, Any]:
    """A merchant's published team-buy deal, with the merchant's id."""
    merchant_id, token = merchant(stack)
    store = await new_store(stack, token)
    deal = await new_deal(
        stack,
        token,
        publish=True,
        store_ids=[store["store_id"]],
        team_size=team_size,
        team_window_s=WINDOW_S,
        **fields,
    )
    return deal | {"merchant_id": merchant_id, "token": token}


async def reserve(
    stack: Stack, deal: dict[str, Any], buyer_id: str, team_id: str | None = None, checkout_id: str | None = None
) -> tuple[str, ReserveDealsReply]:
    """A buyer's checkout of one unit of the deal, opening a team or joining `team_id`: (checkout id, reply)."""
    checkout_id = checkout_id or str(uuid.uuid4())
    request = ReserveDeals(
        checkout_id=checkout_id,
        buyer_id=buyer_id,
        items=[ReserveDealItem(deal_id=deal["deal_id"], quantity=1, team_id=team_id)],
        hold_until=stack.clock.now() + timedelta(seconds=2 * WINDOW_S),
    )
    reply = await stack.apps["local_life"].runtime.bus.request(RESERVE_DEALS, request, ReserveDealsReply)
    return checkout_id, reply


def paid(deal: dict[str, Any], buyer_id: str, checkout_id: str, team_id: str) -> OrderPaid:
    """orders' OrderPaid for that checkout's team line."""
    line = OrderLine(
        sku_id=deal["deal_id"],
        product_id=deal["deal_id"],
        title=deal["title"],
        sku_name="Deal",
        quantity=1,
        unit_price_minor=deal["price_minor"],
        amount_minor=deal["price_minor"],
        deal_id=deal["deal_id"],
        team_id=team_id,
    )
    return paid_order(
        checkout_id=checkout_id,
        buyer_id=buyer_id,
        merchant_id=deal["merchant_id"],
        lines=[line],
        amount_minor=deal["price_minor"],
        currency="CNY",
    )


async def team(stack: Stack, team_id: str) -> dict[str, Any]:
    async with stack.client("local_life") as client:
        response = await client.get(f"/teams/{team_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def team_becomes(stack: Stack, team_id: str, **expected: Any) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        found = await team(stack, team_id)
        return found if all(found[k] == v for k, v in expected.items()) else None

    return await eventually(check, timeout=15)


async def vouchers_of(stack: Stack, buyer_id: str) -> list[dict[str, Any]]:
    async with stack.client("local_life", stack.infra.token("buyer", sub=buyer_id)) as client:
        response = await client.get("/vouchers")
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def events_on_bus(stack: Stack, kind: type[E], team_id: str, *, settle_s: float = 1.0) -> list[E]:
    """Every `kind` event of the team on JetStream, as orders would receive them (after `settle_s` of quiet)."""
    bus = stack.apps["local_life"].runtime.bus
    sub = await bus.js.pull_subscribe(bus.subject(kind.SUBJECT), stream=bus.stream("LOCAL"))
    seen: list[E] = []
    try:
        while True:
            try:
                messages = await sub.fetch(500, timeout=settle_s)
            except TimeoutError:
                break
            for message in messages:
                event = msgspec.json.decode(message.data, type=kind)
                if getattr(event, "team_id", None) == team_id:
                    seen.append(event)
                await message.ack()
    finally:
        await sub.unsubscribe()
    return seen


# --- tests ---------------------------------------------------------------------------------------------------------


async def test_racing_buyers_for_a_teams_last_seats_exactly_the_team_size_hold_one(stack: Stack) -> None:
    size = 3
    deal = await team_deal(stack, size)
    _, opened = await reserve(stack, deal, "opener")
    assert opened.ok, opened
    team_id = opened.lines[0].team_id
    assert team_id is not None
    assert opened.lines[0].team_size == size
    # N more buyers race for the N - 1 seats left: N + 1 buyers in all, N seats.
    replies = await asyncio.gather(*(reserve(stack, deal, f"joiner-{i}", team_id) for i in range(size)))
    assert sum(reply.ok for _, reply in replies) == size - 1
    refused = [reply for _, reply in replies if not reply.ok]
    assert [(r.error, r.available) for r in refused] == [("team_full", 0)]
    assert all(reply.lines[0].team_id == team_id for _, reply in replies if reply.ok)
    shown = await team(stack, team_id)
    assert (shown["seats_held"], shown["seats_paid"], shown["seats_left"], shown["status"]) == (size, 0, 0, "open")
    assert "buyer_id" not in str(shown)


async def test_joining_refusals_and_a_retry_names_the_same_team(stack: Stack) -> None:
    deal = await team_deal(stack, 2)
    checkout_id, opened = await reserve(stack, deal, "ann")
    team_id = opened.lines[0].team_id
    _, again = await reserve(stack, deal, "ann", checkout_id=checkout_id)
    assert again == opened
    _, twice = await reserve(stack, deal, "ann", team_id)
    assert (twice.ok, twice.error) == (False, "team_full")
    _, unknown = await reserve(stack, deal, "bob", str(uuid.uuid4()))
    assert (unknown.ok, unknown.error, unknown.item_index) == (False, "unknown_team", 0)
    plain = await new_deal(stack, deal["token"], publish=True, store_ids=deal["store_ids"])
    _, not_team = await reserve(stack, plain, "bob", team_id)
    assert (not_team.ok, not_team.error) == (False, "not_a_team_deal")
    other = await team_deal(stack, 2)
    _, wrong_deal = await reserve(stack, other, "bob", team_id)
    assert (wrong_deal.ok, wrong_deal.error) == (False, "unknown_team")
    async with stack.client("local_life") as client:
        missing = await client.get(f"/teams/{uuid.uuid4()}")
    assert missing.status_code == 404, missing.text


async def test_a_team_of_two_issues_both_members_vouchers_when_the_second_pays(stack: Stack) -> None:
    deal = await team_deal(stack, 2)
    ann_checkout, opened = await reserve(stack, deal, "ann-fill")
    team_id = opened.lines[0].team_id
    assert team_id is not None
    bob_checkout, joined = await reserve(stack, deal, "bob-fill", team_id)
    assert joined.ok, joined

    await publish(stack, paid(deal, "ann-fill", ann_checkout, team_id))
    await team_becomes(stack, team_id, seats_paid=1, seats_held=1)
    assert await vouchers_of(stack, "ann-fill") == []  # alone, nothing yet
    assert await events_on_bus(stack, TeamFilled, team_id, settle_s=0.3) == []

    bob_paid = paid(deal, "bob-fill", bob_checkout, team_id)
    await delivered_twice(stack, bob_paid)
    await team_becomes(stack, team_id, status="filled", seats_paid=2, seats_left=0)
    ann, bob = await vouchers_of(stack, "ann-fill"), await vouchers_of(stack, "bob-fill")
    assert (len(ann), len(bob)) == (1, 1)
    assert bob[0]["order_id"] == bob_paid.order_id
    filled = await events_on_bus(stack, TeamFilled, team_id)
    assert len(filled) == 1
    assert sorted(m.buyer_id for m in filled[0].members) == ["ann-fill", "bob-fill"]
    assert sorted(m.seat_no for m in filled[0].members) == [1, 2]
    _, late = await reserve(stack, deal, "cat-fill", team_id)
    assert (late.ok, late.error) == (False, "team_closed")


async def test_a_team_that_does_not_fill_refunds_each_paid_member_once(stack: Stack) -> None:
    deal = await team_deal(stack, 3, total_quantity=10)
    ann_checkout, opened = await reserve(stack, deal, "ann-fail")
    team_id = opened.lines[0].team_id
    assert team_id is not None
    bob_checkout, _ = await reserve(stack, deal, "bob-fail", team_id)
    cat_checkout, cat_seat = await reserve(stack, deal, "cat-fail", team_id)
    assert cat_seat.ok
    ann_paid = paid(deal, "ann-fail", ann_checkout, team_id)
    bob_paid = paid(deal, "bob-fail", bob_checkout, team_id)
    await publish(stack, ann_paid)
    await publish(stack, bob_paid)
    await team_becomes(stack, team_id, seats_paid=2, seats_held=1)

    stack.clock.advance(WINDOW_S + 1)
    await team_becomes(stack, team_id, status="failed", seats_paid=2, seats_held=0, seats_left=0)
    # The job again, and the payments delivered again: nothing more.
    async with stack.apps["local_life"].runtime.db.transaction() as conn:
        await schedule(conn, "team_deadline", team_id, stack.clock.now())
    await delivered_twice(stack, ann_paid)
    await publish(stack, msgspec.structs.replace(ann_paid, event_id=str(uuid.uuid4())))  # republished by orders
    await eventually(lambda: _job_gone(stack, team_id))

    refunds = await events_on_bus(stack, DealRefundRequested, team_id)
    assert sorted(r.order_id for r in refunds) == sorted([ann_paid.order_id, bob_paid.order_id])
    for refund in refunds:
        assert (refund.reason, refund.voucher_ids, refund.deal_id) == ("team_failed", [], deal["deal_id"])
        assert [(line.line_no, line.quantity) for line in refund.lines] == [(0, 1)]
    assert len({r.grant_id for r in refunds}) == 2
    failed = await events_on_bus(stack, TeamFailed, team_id)
    assert len(failed) == 1
    assert sorted(m.buyer_id for m in failed[0].members) == ["ann-fail", "bob-fail"]
    assert await vouchers_of(stack, "ann-fail") == []
    assert await vouchers_of(stack, "bob-fail") == []

    # The third member pays after the team failed: refunded at once, on its own, once.
    cat_paid = paid(deal, "cat-fail", cat_checkout, team_id)
    await delivered_twice(stack, cat_paid)

    async def cat_refunded() -> list[DealRefundRequested]:
        found = await events_on_bus(stack, DealRefundRequested, team_id, settle_s=0.3)
        return [r for r in found if r.order_id == cat_paid.order_id]

    [cat_refund] = await eventually(cat_refunded)
    assert (cat_refund.reason, cat_refund.buyer_id, cat_refund.voucher_ids) == ("team_failed", "cat-fail", [])
    await asyncio.sleep(0.5)
    refunds = await events_on_bus(stack, DealRefundRequested, team_id)
    assert sorted(r.order_id for r in refunds) == sorted([ann_paid.order_id, bob_paid.order_id, cat_paid.order_id])
    assert await vouchers_of(stack, "cat-fail") == []
    assert (await team(stack, team_id))["seats_paid"] == 2
    # Every unit was refunded, none used: the deal can sell all 10 again.
    async with stack.client("local_life", deal["token"]) as client:
        assert (await client.get(f"/deals/{deal['deal_id']}")).json()["remaining"] == 10


async def _job_gone(stack: Stack, team_id: str) -> bool:
    db = stack.apps["local_life"].runtime.db
    return not await db.fetchval("SELECT true FROM due_jobs WHERE kind = 'team_deadline' AND key = $1", team_id)


async def test_a_cancelled_members_seat_is_free_for_the_next_buyer(stack: Stack) -> None:
    deal = await team_deal(stack, 2)
    _, opened = await reserve(stack, deal, "ann-free")
    team_id = opened.lines[0].team_id
    assert team_id is not None
    bob_checkout, _ = await reserve(stack, deal, "bob-free", team_id)
    _, full = await reserve(stack, deal, "cat-free", team_id)
    assert (full.ok, full.error) == (False, "team_full")
    bob_order = paid(deal, "bob-free", bob_checkout, team_id)
    cancelled = OrderCancelled(
        order_id=bob_order.order_id,
        checkout_id=bob_checkout,
        buyer_id="bob-free",
        merchant_id=deal["merchant_id"],
        lines=bob_order.lines,
        reason="payment_timeout",
    )
    await publish(stack, cancelled)
    await team_becomes(stack, team_id, seats_held=1, seats_left=1)
    _, joined = await reserve(stack, deal, "cat-free", team_id)
    assert joined.ok, joined
    assert (await team(stack, team_id))["seats_left"] == 0


async def test_members_paying_at_once_fill_the_team_once(stack: Stack) -> None:
    size = 4
    deal = await team_deal(stack, size)
    first_checkout, opened = await reserve(stack, deal, "m-0")
    team_id = opened.lines[0].team_id
    assert team_id is not None
    checkouts = [first_checkout]
    for i in range(1, size):
        checkout_id, joined = await reserve(stack, deal, f"m-{i}", team_id)
        assert joined.ok, joined
        checkouts.append(checkout_id)
    payments = [paid(deal, f"m-{i}", checkout_id, team_id) for i, checkout_id in enumerate(checkouts)]
    await asyncio.gather(*(publish(stack, payment) for payment in payments))
    await team_becomes(stack, team_id, status="filled", seats_paid=size)
    for i in range(size):
        assert len(await vouchers_of(stack, f"m-{i}")) == 1
    assert len(await events_on_bus(stack, TeamFilled, team_id)) == 1
