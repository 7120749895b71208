"""Refund grants, money exactly once: a granted refund becomes one Stripe refund of exactly its units' price, however
often or concurrently the grant arrives, never past what is refundable or what the order captured."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg

from libs.contracts import CaseLine, RefundGranted, ReturnedLine, ReturnReceived
from services.orders.use_cases.grants import GrantOutcome, accept_grant
from tests.harness import Stack, delivered_twice, eventually, publish
from tests.integration.orders.fake_stripe import stripe_refunds
from tests.integration.orders.support import Seller, events_of, new_buyer, new_seller, pay_checkout

SERVICES = ("shop", "orders")
# A second orders instance: grants are consumed and refund jobs run by two processes at once.
INSTANCES = {"orders2": ("orders", {})}


async def ship_all(stack: Stack, seller: Seller, order_id: str) -> None:
    """The merchant ships everything left of its order."""
    async with stack.client("orders", seller.token) as client:
        shipped = await client.post(
            f"/seller/orders/{order_id}/shipments", json={"carrier": "ups", "tracking_number": uuid.uuid4().hex}
        )
    assert shipped.status_code == 201, shipped.text


async def shipped_order(stack: Stack, seller: Seller, quantity: int = 3) -> dict[str, Any]:
    """A paid and shipped order of `quantity` units of the seller's first SKU: the checkout's order JSON."""
    paid = await pay_checkout(stack, new_buyer(stack), [{"sku_id": seller.sku_id, "quantity": quantity}])
    order = paid["orders"][0]
    await ship_all(stack, seller, order["order_id"])
    return order


def granted(order: dict[str, Any], *lines: tuple[int, int], grant_id: str | None = None) -> RefundGranted:
    """aftersales' grant of (line_no, quantity) units of the order."""
    return RefundGranted(
        grant_id=grant_id or str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        order_id=order["order_id"],
        buyer_id=order.get("buyer_id", "buyer"),
        merchant_id=order["merchant_id"],
        lines=[CaseLine(line_no=n, sku_id=order["lines"][n]["sku_id"], quantity=q) for n, q in lines],
    )


async def grant_of(db: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT status, amount_minor, stripe_refund_id, failure_reason FROM orders.refund_grants WHERE grant_id = $1",
        grant_id,
    )


async def settled(db: asyncpg.Connection, grant_id: str) -> asyncpg.Record | None:
    found = await grant_of(db, grant_id)
    return found if found is not None and found["status"] != "pending" else None


async def refused(db: asyncpg.Connection, grant_id: str) -> str | None:
    return await db.fetchval("SELECT reason FROM orders.refused_grants WHERE grant_id = $1", grant_id)


async def ledger(db: asyncpg.Connection, order_id: str) -> list[dict[str, int]]:
    rows = await db.fetch(
        """SELECT shipped_qty, cancelled_qty, refund_requested_qty, refunded_qty, returned_qty, restocked_qty
           FROM orders.order_lines WHERE order_id = $1 ORDER BY line_no""",
        order_id,
    )
    return [dict(row) for row in rows]


async def intent_of(db: asyncpg.Connection, order_id: str) -> str:
    return await db.fetchval(
        """SELECT p.stripe_payment_intent_id
           FROM orders.payments p JOIN orders.orders o ON o.checkout_id = p.checkout_id WHERE o.order_id = $1""",
        order_id,
    )


async def test_a_granted_refund_is_one_stripe_refund_of_exactly_its_units(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 1250)
    order = await shipped_order(stack, seller, 3)
    grant = granted(order, (0, 2))
    await publish(stack, grant)

    found = await eventually(lambda: settled(db, grant.grant_id), timeout=15)
    assert found["status"] == "succeeded", dict(found)
    assert found["amount_minor"] == 2500
    intent = await intent_of(db, order["order_id"])
    refunds = await stripe_refunds(stack.infra.stripe_base, intent)
    assert [(r["id"], r["amount"], r["metadata"]["grant_id"]) for r in refunds] == [
        (found["stripe_refund_id"], 2500, grant.grant_id)
    ]
    assert (await ledger(db, order["order_id"]))[0] == {
        "shipped_qty": 3,
        "cancelled_qty": 0,
        "refund_requested_qty": 2,
        "refunded_qty": 2,
        "returned_qty": 0,
        "restocked_qty": 0,
    }
    requested = await events_of(db, "orders.refund.requested.v1", order["order_id"])
    succeeded = await eventually(lambda: events_of(db, "orders.refund.succeeded.v1", order["order_id"]))
    assert len(requested) == len(succeeded) == 1
    for event in (requested[0], succeeded[0]):
        assert event["grant_id"] == grant.grant_id
        assert event["case_id"] == grant.case_id
        assert event["amount_minor"] == 2500
        assert event["refund_lines"] == [
            {
                "line_no": 0,
                "sku_id": seller.sku_id,
                "quantity": 2,
                "amount_minor": 2500,
                "room_id": None,
                "flash_sale_id": None,
            }
        ]
        assert [line["sku_id"] for line in event["lines"]] == [seller.sku_id]
    assert succeeded[0]["stripe_refund_id"] == found["stripe_refund_id"]

    # The last unit: its own refund, and the order's refunds add up to exactly what it took.
    last = granted(order, (0, 1))
    await publish(stack, last)
    assert (await eventually(lambda: settled(db, last.grant_id), timeout=15))["status"] == "succeeded"
    refunds = await stripe_refunds(stack.infra.stripe_base, intent)
    assert sorted(r["amount"] for r in refunds) == [1250, 2500]


async def test_the_same_grant_again_or_ten_times_at_once_is_one_refund(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 900)
    order = await shipped_order(stack, seller, 3)
    grant = granted(order, (0, 1))
    await delivered_twice(stack, grant)
    # Ten copies at once, each its own event (new event ids: the inbox does not see them as one).
    copies = [copy_of(grant) for _ in range(10)]
    await asyncio.gather(*(publish(stack, copy) for copy in copies))

    found = await eventually(lambda: settled(db, grant.grant_id), timeout=15)
    assert found["status"] == "succeeded"
    # Every copy was applied (inbox rows), and nothing more came of them.
    await eventually(lambda: _inbox_count(db, [grant.event_id, *(c.event_id for c in copies)], 11), timeout=15)
    refunds = await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))
    assert [(r["amount"], r["metadata"]["grant_id"]) for r in refunds] == [(900, grant.grant_id)]
    assert await db.fetchval("SELECT count(*) FROM orders.refund_grants WHERE order_id = $1", order["order_id"]) == 1
    assert (await ledger(db, order["order_id"]))[0]["refunded_qty"] == 1
    assert len(await events_of(db, "orders.refund.requested.v1", order["order_id"])) == 1
    assert len(await events_of(db, "orders.refund.succeeded.v1", order["order_id"])) == 1


def copy_of(grant: RefundGranted) -> RefundGranted:
    """The same grant under a new event id."""
    fields = {name: getattr(grant, name) for name in grant.__struct_fields__ if name not in ("event_id",)}
    return RefundGranted(**fields)


async def _inbox_count(db: asyncpg.Connection, event_ids: list[str], expected: int) -> bool:
    count = await db.fetchval(
        "SELECT count(*) FROM orders.inbox WHERE consumer = 'orders__refund_grants' AND event_id = ANY($1::uuid[])",
        event_ids,
    )
    return count == expected


async def test_a_grant_over_what_is_refundable_is_refused_and_nothing_is_refunded(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller = await new_seller(stack, 700)
    order = await shipped_order(stack, seller, 3)
    too_many, unknown_line = granted(order, (0, 4)), granted(order, (0, 1))
    unknown_line = RefundGranted(
        **{name: getattr(unknown_line, name) for name in unknown_line.__struct_fields__ if name != "lines"},
        lines=[CaseLine(line_no=7, sku_id=seller.sku_id, quantity=1)],
    )
    # Units paid but not shipped are the buyer's to cancel, not a case's to refund.
    unshipped = (await pay_checkout(stack, new_buyer(stack), [{"sku_id": seller.sku_id, "quantity": 2}]))["orders"][0]
    not_shipped = granted(unshipped, (0, 1))
    for grant in (too_many, unknown_line, not_shipped):
        await publish(stack, grant)
    for grant in (too_many, unknown_line, not_shipped):
        assert await eventually(lambda g=grant: refused(db, g.grant_id), timeout=15) == "over-refundable"
        assert await grant_of(db, grant.grant_id) is None
    failed = await events_of(db, "orders.refund.failed.v1", order["order_id"])
    assert sorted((e["grant_id"], e["reason"], e["amount_minor"]) for e in failed) == sorted(
        [(too_many.grant_id, "over-refundable", 0), (unknown_line.grant_id, "over-refundable", 0)]
    )
    assert [e["reason"] for e in await events_of(db, "orders.refund.failed.v1", unshipped["order_id"])] == [
        "over-refundable"
    ]
    assert await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"])) == []
    assert (await ledger(db, order["order_id"]))[0]["refund_requested_qty"] == 0

    # Delivered again, a refused grant stays refused: it never becomes a refund later.
    await publish(stack, copy_of(too_many))
    await publish(stack, granted(order, (0, 3)))  # a grant that fits, after it: proves the copy was consumed first
    await eventually(lambda: _refunded(db, order["order_id"], 3), timeout=15)
    assert await grant_of(db, too_many.grant_id) is None
    assert len(await events_of(db, "orders.refund.failed.v1", order["order_id"])) == 2


async def _refunded(db: asyncpg.Connection, order_id: str, units: int) -> bool:
    return (await ledger(db, order_id))[0]["refunded_qty"] == units


async def test_two_grants_racing_for_the_last_unit_one_is_accepted(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 1100)
    order = await shipped_order(stack, seller, 2)
    first = granted(order, (0, 1))
    await publish(stack, first)
    assert (await eventually(lambda: settled(db, first.grant_id), timeout=15))["status"] == "succeeded"

    runtime = stack.apps["orders"].runtime
    ids = [str(uuid.uuid4()), str(uuid.uuid4())]

    async def accept(grant_id: str) -> GrantOutcome:
        async with runtime.db.transaction() as conn:
            return await accept_grant(
                runtime,
                conn,
                grant_id=grant_id,
                order_id=order["order_id"],
                case_id=None,
                origin="case",
                lines=[(0, 1)],
            )

    outcomes = await asyncio.gather(*(accept(grant_id) for grant_id in ids))
    assert sorted((o.accepted, o.reason, o.amount_minor) for o in outcomes) == [
        (False, "over-refundable", 0),
        (True, None, 1100),
    ]
    winner = ids[[o.accepted for o in outcomes].index(True)]
    assert (await eventually(lambda: settled(db, winner), timeout=15))["status"] == "succeeded"
    refunds = await stripe_refunds(stack.infra.stripe_base, await intent_of(db, order["order_id"]))
    assert sorted(r["amount"] for r in refunds) == [1100, 1100]
    assert (await ledger(db, order["order_id"]))[0]["refunded_qty"] == 2
    # Asked again, each answers as it was decided.
    async with runtime.db.transaction() as conn:
        again = [
            await accept_grant(
                runtime, conn, grant_id=g, order_id=order["order_id"], case_id=None, origin="case", lines=[(0, 1)]
            )
            for g in ids
        ]
    assert again == outcomes


async def test_a_grant_on_one_merchants_order_never_touches_the_others(stack: Stack, db: asyncpg.Connection) -> None:
    tea, cups = await new_seller(stack, 800), await new_seller(stack, 2500)
    paid = await pay_checkout(
        stack, new_buyer(stack), [{"sku_id": tea.sku_id, "quantity": 2}, {"sku_id": cups.sku_id, "quantity": 1}]
    )
    orders = {o["merchant_id"]: o for o in paid["orders"]}
    tea_order, cups_order = orders[tea.merchant_id], orders[cups.merchant_id]
    await ship_all(stack, tea, tea_order["order_id"])
    await ship_all(stack, cups, cups_order["order_id"])
    intent = await intent_of(db, tea_order["order_id"])
    assert intent == await intent_of(db, cups_order["order_id"])  # one payment for both

    whole = granted(tea_order, (0, 2))
    await publish(stack, whole)
    assert (await eventually(lambda: settled(db, whole.grant_id), timeout=15))["amount_minor"] == 1600
    # The tea order has given back all it took: one more unit is refused, though the payment holds more.
    more = granted(tea_order, (0, 1))
    await publish(stack, more)
    assert await eventually(lambda: refused(db, more.grant_id), timeout=15) == "over-refundable"
    refunds = await stripe_refunds(stack.infra.stripe_base, intent)
    assert [r["amount"] for r in refunds] == [1600]
    assert (await ledger(db, cups_order["order_id"]))[0]["refund_requested_qty"] == 0
    assert (
        await db.fetchval("SELECT count(*) FROM orders.refund_grants WHERE order_id = $1", cups_order["order_id"]) == 0
    )


async def test_returned_units_are_counted_once_in_the_ledger(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 500)
    order = await shipped_order(stack, seller, 3)
    received = ReturnReceived(
        case_id=str(uuid.uuid4()),
        order_id=order["order_id"],
        merchant_id=order["merchant_id"],
        lines=[ReturnedLine(line_no=0, sku_id=seller.sku_id, quantity=2, restockable=1)],
    )
    await delivered_twice(stack, received)

    async def counted() -> dict[str, int] | None:
        line = (await ledger(db, order["order_id"]))[0]
        return line if line["returned_qty"] else None

    await eventually(counted, timeout=15)
    await eventually(lambda: _drained(stack, "orders__returns"), timeout=15)
    line = (await ledger(db, order["order_id"]))[0]
    assert (line["returned_qty"], line["restocked_qty"]) == (2, 1)


async def _drained(stack: Stack, durable: str) -> bool:
    """The durable has been handed, and has acknowledged, everything on aftersales' stream so far."""
    bus = stack.apps["orders"].runtime.bus
    last = (await bus.js.stream_info(bus.stream("AFTERSALES"))).state.last_seq
    info = await bus.js.consumer_info(bus.stream("AFTERSALES"), durable)
    return not (info.num_pending or info.num_ack_pending) and info.delivered.stream_seq >= last
