"""Orders from live's flash-sale admissions, over real HTTP, Postgres, NATS and localstripe.

Live's `FlashSaleAdmitted` batches are published here as live's relay would; shop is not running, so nothing
in these orders can have asked it to reserve stock.
"""

from __future__ import annotations

import json
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx

from libs.contracts import Admission, FlashSaleAdmitted, FlashSaleOrdersPlaced, OrderCancelled, OrderPaid, OrderPlaced
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.orders.support import consumed_all, events_of, stripe_intent

SERVICES = ("orders",)
PRICE = 990


@dataclass
class Sale:
    event: FlashSaleAdmitted
    merchant_token: str

    def buyer(self, stack: Stack, admission: Admission) -> httpx.AsyncClient:
        return stack.client("orders", stack.infra.token("buyer", sub=admission.buyer_id))


def admission(stack: Stack, quantity: int = 1) -> Admission:
    return Admission(
        admission_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{uuid.uuid4().hex[:10]}",
        quantity=quantity,
        admitted_at=stack.clock.now(),
    )


def sale(stack: Stack, *admissions: Admission, pay_within_s: int = 300) -> Sale:
    merchant_id = str(uuid.uuid4())
    event = FlashSaleAdmitted(
        sale_id=str(uuid.uuid4()),
        room_id=f"room-{uuid.uuid4().hex[:8]}",
        merchant_id=merchant_id,
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        title="Matcha",
        sku_name="30 g",
        unit_price_minor=PRICE,
        currency="USD",
        pay_within_s=pay_within_s,
        admissions=list(admissions),
    )
    return Sale(event, stack.infra.token("merchant", merchant_id=merchant_id))


def again(event: FlashSaleAdmitted, *admissions: Admission) -> FlashSaleAdmitted:
    """Another batch of the same sale (a new event id)."""
    fields = {f: getattr(event, f) for f in event.__struct_fields__ if f not in ("event_id", "occurred_at")}
    return FlashSaleAdmitted(**(fields | {"admissions": list(admissions)}))


async def order_of(client: httpx.AsyncClient, order_id: str) -> dict[str, Any] | None:
    response = await client.get(f"/orders/{order_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


async def wait_for_order(client: httpx.AsyncClient, order_id: str, status: str = "awaiting_payment") -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        order = await order_of(client, order_id)
        return order if order and order["status"] == status else None

    return await eventually(found, timeout=15)


async def placed_in_batches(db: asyncpg.Connection, order_id: str) -> list[dict[str, Any]]:
    """The order as each FlashSaleOrdersPlaced batch in orders' outbox lists it."""
    rows = await db.fetch(
        """SELECT o FROM orders.outbox, jsonb_array_elements(convert_from(payload, 'UTF8')::jsonb -> 'orders') o
           WHERE subject = $1 AND o ->> 'order_id' = $2""",
        FlashSaleOrdersPlaced.SUBJECT,
        order_id,
    )
    return [json.loads(r["o"]) if isinstance(r["o"], str) else r["o"] for r in rows]


async def test_admitted_batch_becomes_orders_at_the_sale_price_payable_until_pay_by(
    stack: Stack, db: asyncpg.Connection
) -> None:
    one, two, three = admission(stack), admission(stack, quantity=2), admission(stack)
    s = sale(stack, one, two, three)
    await publish(stack, s.event)
    for a in (one, two, three):
        async with aclosing(s.buyer(stack, a)) as buyer:
            order = await wait_for_order(buyer, a.order_id)
            assert (order["buyer_id"], order["merchant_id"], order["currency"]) == (
                a.buyer_id,
                s.event.merchant_id,
                "USD",
            )
            assert (order["subtotal_minor"], order["discount_minor"], order["amount_minor"]) == (
                PRICE * a.quantity,
                0,
                PRICE * a.quantity,
            )
            (line,) = order["lines"]
            assert (line["sku_id"], line["quantity"], line["unit_price_minor"], line["amount_minor"]) == (
                s.event.sku_id,
                a.quantity,
                PRICE,
                PRICE * a.quantity,
            )
            assert (line["flash_sale_id"], line["admission_id"], line["room_id"]) == (
                s.event.sale_id,
                a.admission_id,
                s.event.room_id,
            )
            # The buyer finds the payment to confirm on the order and on its checkout, payable until pay_by.
            checkout = (await buyer.get(f"/checkouts/{order['checkout_id']}")).json()
            assert checkout["payment"]["payment_id"] == order["payment_id"]
            assert (checkout["payment"]["amount_minor"], checkout["payment"]["status"]) == (
                PRICE * a.quantity,
                "requires_payment",
            )
            pay_by = a.admitted_at + timedelta(seconds=s.event.pay_within_s)
            assert datetime.fromisoformat(checkout["pay_by"]) == pay_by
            assert [o["order_id"] for o in (await buyer.get("/orders")).json()["items"]] == [a.order_id]
        # No PaymentIntent until the buyer confirms.
        assert (
            await db.fetchval(
                "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", order["payment_id"]
            )
            is None
        )
        # One event per batch, none per order: a rush costs consumers a message per batch.
        assert await events_of(db, OrderPlaced.SUBJECT, a.order_id) == []
        (placed,) = await placed_in_batches(db, a.order_id)
        assert (placed["payment_id"], placed["amount_minor"]) == (order["payment_id"], PRICE * a.quantity)
        assert placed["lines"][0]["admission_id"] == a.admission_id
    async with stack.client("orders", s.merchant_token) as seller_client:
        listed = (await seller_client.get("/seller/orders")).json()["items"]
    assert {o["order_id"] for o in listed} == {one.order_id, two.order_id, three.order_id}
    async with stack.client("orders", stack.infra.token("buyer")) as stranger:
        assert (await stranger.get(f"/orders/{one.order_id}")).status_code == 404


async def test_a_batch_redelivered_or_repeated_in_a_later_batch_makes_no_second_order(
    stack: Stack, db: asyncpg.Connection
) -> None:
    first, later = admission(stack), admission(stack)
    s = sale(stack, first)
    # The same event twice under two message ids (JetStream cannot deduplicate it; the inbox does) ...
    await publish(stack, s.event)
    await publish(stack, s.event, msg_id=str(uuid.uuid4()))
    # ... then a later batch (a new event) that repeats the first admission next to a new one.
    await publish(stack, again(s.event, first, later))
    async with aclosing(s.buyer(stack, later)) as later_buyer:
        await wait_for_order(later_buyer, later.order_id)

    # Everything published to live's stream so far is applied and acknowledged.
    await eventually(lambda: consumed_all(stack, "orders__flash_sale_orders"), timeout=15)
    async with aclosing(s.buyer(stack, first)) as buyer:
        assert len((await buyer.get("/orders")).json()["items"]) == 1
    assert len(await placed_in_batches(db, first.order_id)) == 1
    assert await db.fetchval("SELECT count(*) FROM orders.order_lines WHERE admission_id = $1", first.admission_id) == 1


async def test_hundreds_of_admissions_in_one_batch_each_get_an_order_and_a_payment_window(
    stack: Stack, db: asyncpg.Connection
) -> None:
    admissions = [admission(stack, quantity=1 + n % 2) for n in range(300)]
    s = sale(stack, *admissions)
    await publish(stack, s.event)

    async def all_there() -> bool:
        return (
            await db.fetchval("SELECT count(*) FROM orders.order_lines WHERE flash_sale_id = $1", s.event.sale_id)
            == 300
        )

    await eventually(all_there, timeout=30)
    order_ids = [a.order_id for a in admissions]
    rows = await db.fetch(
        """SELECT o.order_id::text, o.amount_minor, c.pay_by, j.due_at
           FROM orders.orders o JOIN orders.checkouts c USING (checkout_id)
           JOIN orders.due_jobs j ON j.kind = 'payment_timeout' AND j.key = c.checkout_id::text
           WHERE o.order_id = ANY($1::uuid[])""",
        order_ids,
    )
    by_order = {r["order_id"]: r for r in rows}
    assert len(by_order) == 300
    for a in admissions:
        row = by_order[a.order_id]
        assert row["amount_minor"] == PRICE * a.quantity
        assert row["pay_by"] == row["due_at"] == a.admitted_at + timedelta(seconds=300)
    async with stack.client("orders", s.merchant_token) as seller_client:
        page = (await seller_client.get("/seller/orders", params={"limit": 100})).json()
    assert len(page["items"]) == 100
    assert page["next_cursor"]


async def test_confirm_creates_the_intent_at_the_sale_price_and_the_paid_order_names_the_sale(
    stack: Stack, db: asyncpg.Connection
) -> None:
    a = admission(stack, quantity=2)
    s = sale(stack, a)
    await publish(stack, s.event)
    async with aclosing(s.buyer(stack, a)) as buyer:
        order = await wait_for_order(buyer, a.order_id)
        confirmed = await buyer.post(
            f"/payments/{order['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code == 202, confirmed.text
        assert confirmed.json() == {"payment_id": order["payment_id"], "status": "succeeded"}
        paid = await wait_for_order(buyer, a.order_id, "paid")
        assert paid["paid_at"] is not None
        # A retried confirm answers how the payment stands and charges nothing again.
        retried = await buyer.post(f"/payments/{order['payment_id']}/confirm", json={"payment_method": "pm_card_visa"})
        assert retried.json()["status"] == "succeeded"
    intent_id = await db.fetchval(
        "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", order["payment_id"]
    )
    intent = await stripe_intent(stack, intent_id)
    assert (intent.amount, intent.currency, intent.status) == (PRICE * 2, "usd", "succeeded")
    assert intent.metadata["checkout_id"] == order["checkout_id"]
    (event,) = await events_of(db, OrderPaid.SUBJECT, a.order_id)
    assert event["amount_minor"] == PRICE * 2
    assert [(ln["flash_sale_id"], ln["admission_id"]) for ln in event["lines"]] == [(s.event.sale_id, a.admission_id)]


async def test_unpaid_admission_is_cancelled_at_pay_by_and_the_event_names_the_admission(
    stack: Stack, db: asyncpg.Connection
) -> None:
    a = admission(stack)
    s = sale(stack, a, pay_within_s=120)
    await publish(stack, s.event)
    async with aclosing(s.buyer(stack, a)) as buyer:
        order = await wait_for_order(buyer, a.order_id)
        stack.clock.advance(121)
        cancelled = await wait_for_order(buyer, a.order_id, "cancelled")
        assert cancelled["cancel_reason"] == "payment_timeout"
        checkout = (await buyer.get(f"/checkouts/{order['checkout_id']}")).json()
        assert checkout["status"] == "expired"
        late = await buyer.post(f"/payments/{order['payment_id']}/confirm", json={"payment_method": "pm_card_visa"})
        assert_problem(late, 409, "payment-window-closed")
    (event,) = await events_of(db, OrderCancelled.SUBJECT, a.order_id)
    assert event["reason"] == "payment_timeout"
    assert [(ln["flash_sale_id"], ln["admission_id"], ln["quantity"]) for ln in event["lines"]] == [
        (s.event.sale_id, a.admission_id, 1)
    ]
    # No intent was ever made, so there was nothing to cancel at Stripe and nothing was charged.
    assert (
        await db.fetchval(
            "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", order["payment_id"]
        )
        is None
    )
    assert await events_of(db, OrderPaid.SUBJECT, a.order_id) == []
