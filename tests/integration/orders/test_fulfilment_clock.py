"""Fulfilment driven by the clock: auto-completion after delivery, its clock stopped while after-sales cases are open,
and the ship-by deadline after which the buyer may cancel what has not shipped.

aftersales' `CaseOpened` / `CaseClosed` are published here as its relay would."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import aclosing
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from libs.contracts import CaseClosed, CaseOpened, OrderCancelledAfterPayment, OrderCompleted, OrderDelivered
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.orders.support import Buyer, events_of, new_buyer, new_seller, pay_checkout
from tests.integration.orders.test_fulfilment import ledgers, mark_delivered, order, shipped

SERVICES = ("shop", "orders")
SHIP_WITHIN_S = 3600
AUTO_COMPLETE_S = 7200
SETTINGS = {"checkout_burst": 100, "ship_within_s": SHIP_WITHIN_S, "auto_complete_s": AUTO_COMPLETE_S}
# Long enough for the due-job poller (every 0.5 s) to have run anything that was due.
SCHEDULER_ROUNDS_S = 1.5


async def paid_order(stack: Stack, *quantities: int) -> tuple[Any, Buyer, dict[str, Any]]:
    seller = await new_seller(stack, *(1000 for _ in quantities))
    buyer = new_buyer(stack)
    items = [{"sku_id": sku, "quantity": q} for sku, q in zip(seller.sku_ids, quantities, strict=True)]
    checkout = await pay_checkout(stack, buyer, items)
    return seller, buyer, await order(buyer, checkout["orders"][0]["order_id"])


async def delivered_order(stack: Stack) -> tuple[Buyer, dict[str, Any]]:
    seller, buyer, placed = await paid_order(stack, 1)
    sent = await shipped(stack, seller, placed["order_id"])
    assert (await mark_delivered(stack, seller, placed["order_id"], sent["shipment_id"])).status_code == 200
    now = await order(buyer, placed["order_id"])
    assert now["status"] == "delivered"
    return buyer, now


def case_event(kind: type[CaseOpened] | type[CaseClosed], buyer: Buyer, placed: dict[str, Any], case_id: str) -> Any:
    facts = {
        "case_id": case_id,
        "order_id": placed["order_id"],
        "buyer_id": buyer.buyer_id,
        "merchant_id": placed["merchant_id"],
        "kind": "refund_only",
    }
    return CaseOpened(**facts) if kind is CaseOpened else CaseClosed(**facts, status="closed")


async def cases_applied(stack: Stack) -> bool:
    """orders has applied every case event published so far."""
    bus = stack.apps["orders"].runtime.bus
    last = (await bus.js.stream_info(bus.stream("AFTERSALES"))).state.last_seq
    info = await bus.js.consumer_info(bus.stream("AFTERSALES"), "orders__case_holds")
    return not (info.num_pending or info.num_ack_pending) and info.delivered.stream_seq >= last


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def status_after_a_while(buyer: Buyer, order_id: str) -> str:
    """The order's status once the due-job poller had time to run whatever was due."""
    await asyncio.sleep(SCHEDULER_ROUNDS_S)
    return (await order(buyer, order_id))["status"]


async def test_delivered_order_completes_by_itself_when_its_time_runs_out(stack: Stack, db: asyncpg.Connection) -> None:
    buyer, placed = await delivered_order(stack)
    order_id = placed["order_id"]
    async with aclosing(buyer.client):
        assert at(placed["complete_by"]) - at(placed["delivered_at"]) == timedelta(seconds=AUTO_COMPLETE_S)
        stack.clock.advance(AUTO_COMPLETE_S - 600)
        assert await status_after_a_while(buyer, order_id) == "delivered"
        stack.clock.advance(601)

        async def completed() -> dict[str, Any] | None:
            now = await order(buyer, order_id)
            return now if now["status"] == "completed" else None

        done = await eventually(completed, timeout=10)
        assert done["completed_by"] == "auto"
    assert [e["by"] for e in await events_of(db, OrderCompleted.SUBJECT, order_id)] == ["auto"]


async def test_an_open_case_stops_the_completion_clock_until_the_last_one_closes(
    stack: Stack, db: asyncpg.Connection
) -> None:
    buyer, placed = await delivered_order(stack)
    order_id = placed["order_id"]
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with aclosing(buyer.client):
        await publish(stack, case_event(CaseOpened, buyer, placed, first))
        await publish(stack, case_event(CaseOpened, buyer, placed, second))
        await eventually(lambda: cases_applied(stack), timeout=10)
        paused = await order(buyer, order_id)
        assert paused["completion_paused"] is True
        assert paused["complete_by"] == placed["complete_by"]

        # Well past the deadline: nothing completes while a case is open.
        stack.clock.advance(AUTO_COMPLETE_S + 1000)
        assert await status_after_a_while(buyer, order_id) == "delivered"
        await publish(stack, case_event(CaseClosed, buyer, placed, first))
        await eventually(lambda: cases_applied(stack), timeout=10)
        assert (await order(buyer, order_id))["completion_paused"] is True
        assert await status_after_a_while(buyer, order_id) == "delivered"

        # The last close starts the clock again with what was left of it.
        closed_at = stack.clock.now()
        await publish(stack, case_event(CaseClosed, buyer, placed, second))
        await eventually(lambda: cases_applied(stack), timeout=10)
        resumed = await order(buyer, order_id)
        assert resumed["completion_paused"] is False
        # The cases opened right after delivery: what was left of the clock then is (almost) all of it.
        left = at(resumed["complete_by"]) - closed_at
        assert abs(left - timedelta(seconds=AUTO_COMPLETE_S)) < timedelta(seconds=30), left

        stack.clock.advance(left.total_seconds() - 300)
        assert await status_after_a_while(buyer, order_id) == "delivered"
        stack.clock.advance(301)

        async def completed() -> bool:
            return (await order(buyer, order_id))["status"] == "completed"

        await eventually(completed, timeout=10)
    assert [e["by"] for e in await events_of(db, OrderCompleted.SUBJECT, order_id)] == ["auto"]


async def test_delivery_while_a_case_is_open_starts_the_clock_stopped(stack: Stack) -> None:
    seller, buyer, placed = await paid_order(stack, 1)
    order_id = placed["order_id"]
    case_id = str(uuid.uuid4())
    async with aclosing(buyer.client):
        sent = await shipped(stack, seller, order_id)
        await publish(stack, case_event(CaseOpened, buyer, placed, case_id))
        await eventually(lambda: cases_applied(stack), timeout=10)
        assert (await mark_delivered(stack, seller, order_id, sent["shipment_id"])).status_code == 200
        delivered = await order(buyer, order_id)
        assert delivered["status"] == "delivered"
        assert delivered["completion_paused"] is True

        stack.clock.advance(AUTO_COMPLETE_S + 1000)
        assert await status_after_a_while(buyer, order_id) == "delivered"
        closed_at = stack.clock.now()
        await publish(stack, case_event(CaseClosed, buyer, placed, case_id))
        await eventually(lambda: cases_applied(stack), timeout=10)
        resumed = await order(buyer, order_id)
        assert resumed["completion_paused"] is False
        # The whole window is the buyer's again, from the close.
        left = at(resumed["complete_by"]) - closed_at
        assert abs(left - timedelta(seconds=AUTO_COMPLETE_S)) < timedelta(seconds=30), left


async def test_a_case_closed_before_its_opening_arrives_holds_nothing(stack: Stack) -> None:
    buyer, placed = await delivered_order(stack)
    case_id = str(uuid.uuid4())
    async with aclosing(buyer.client):
        await publish(stack, case_event(CaseClosed, buyer, placed, case_id))
        await eventually(lambda: cases_applied(stack), timeout=10)
        await publish(stack, case_event(CaseOpened, buyer, placed, case_id))
        await eventually(lambda: cases_applied(stack), timeout=10)
        now = await order(buyer, placed["order_id"])
        assert now["completion_paused"] is False
        assert now["complete_by"] == placed["complete_by"]


async def test_past_ship_by_the_order_is_late_and_the_buyer_may_cancel_what_has_not_shipped(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller, buyer, placed = await paid_order(stack, 3, 2)
    order_id = placed["order_id"]
    async with aclosing(buyer.client), stack.client("orders", seller.token) as merchant:
        assert at(placed["ship_by"]) - at(placed["paid_at"]) == timedelta(seconds=SHIP_WITHIN_S)
        sent = await shipped(stack, seller, order_id, [{"line_no": 0, "quantity": 1}])
        assert (await mark_delivered(stack, seller, order_id, sent["shipment_id"])).status_code == 200
        assert (await order(buyer, order_id))["late"] is False
        refused = await buyer.client.post(f"/orders/{order_id}/cancel")
        assert assert_problem(refused, 409, "already-shipping")["order_status"] == "partially_shipped"

        stack.clock.advance(SHIP_WITHIN_S + 1)
        late = await order(buyer, order_id)
        assert late["late"] is True
        queue = (await merchant.get("/seller/orders/to-ship")).json()["items"]
        assert [(o["order_id"], o["late"]) for o in queue] == [(order_id, True)]

        cancelled = await buyer.client.post(f"/orders/{order_id}/cancel", headers={"Idempotency-Key": "late-1"})
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        # What shipped had arrived, and nothing is left to ship: delivered now. The cancelled units are refunded
        # (refund_requested), the shipped one is still refundable by a case.
        assert body["status"] == "delivered"
        assert body["late"] is False
        assert body["cancel_reason"] is None
        assert [(x["shipped"], x["cancelled"], x["to_ship"], x["refundable"]) for x in ledgers(body)] == [
            (1, 2, 0, 1),
            (0, 2, 0, 0),
        ]
        [grant] = body["refunds"]
        assert (grant["origin"], grant["amount_minor"]) == ("cancel", 4000)
        # The same request again answers the order as it stands, and cancels nothing more.
        again = await buyer.client.post(f"/orders/{order_id}/cancel", headers={"Idempotency-Key": "late-1"})
        assert again.status_code == 200, again.text
        assert again.json()["refunds"] == body["refunds"]
        assert (await merchant.get("/seller/orders/to-ship")).json()["items"] == []

    [event] = await events_of(db, OrderCancelledAfterPayment.SUBJECT, order_id)
    assert (event["reason"], event["whole_order"], event["grant_id"]) == ("late_shipment", False, grant["grant_id"])
    assert [(c["line_no"], c["quantity"]) for c in event["cancelled_lines"]] == [(0, 2), (1, 2)]
    assert len(await events_of(db, OrderDelivered.SUBJECT, order_id)) == 1


async def test_merchants_queue_lists_orders_to_ship_soonest_first(stack: Stack) -> None:
    seller = await new_seller(stack, 1000)
    buyer = new_buyer(stack)
    async with aclosing(buyer.client), stack.client("orders", seller.token) as merchant:
        ids = []
        for _ in range(3):
            paid = await pay_checkout(stack, buyer, [{"sku_id": seller.sku_id, "quantity": 1}])
            ids.append(paid["orders"][0]["order_id"])
        await shipped(stack, seller, ids[1])
        first = await merchant.get("/seller/orders/to-ship", params={"limit": 1})
        assert first.status_code == 200, first.text
        second = await merchant.get(
            "/seller/orders/to-ship", params={"limit": 1, "cursor": first.json()["next_cursor"]}
        )
        queue = first.json()["items"] + second.json()["items"]
        assert [o["order_id"] for o in queue] == [ids[0], ids[2]]
        assert second.json()["next_cursor"] is None
        assert [o["ship_by"] for o in queue] == sorted(o["ship_by"] for o in queue)
        assert all(o["late"] is False for o in queue)
