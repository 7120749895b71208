"""A PaymentIntent Stripe made whose recording was lost (the process died between Stripe's answer and the commit)
is found by the orphan sweep: attached to its payment while the checkout still awaits it (the buyer then pays through
it), cancelled once the checkout has expired; never able to charge without an order.

The lost commit is simulated on the real path: checkout records the request (`intent_requested_at`), creates the
intent at Stripe (localstripe) with its metadata and stores it; the test then takes the stored id away, leaving what
the crash would have left.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import asyncpg

from tests.harness import Stack, eventually
from tests.integration.orders.support import Buyer, new_buyer, new_seller, stripe_intent

SERVICES = ("shop", "orders")
SETTINGS = {"orphan_grace_s": 1.0, "orphan_sweep_interval_s": 1.0, "orphan_sweep_max_pages": 500}


async def orphaned_checkout(stack: Stack, db: asyncpg.Connection, buyer: Buyer) -> tuple[dict[str, Any], str]:
    """A checkout whose intent exists at Stripe but is not recorded on its payment: (checkout, intent id)."""
    seller = await new_seller(stack, 1500, stock=5)
    placed = await buyer.client.post(
        "/checkout",
        json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 201, placed.text
    checkout = placed.json()
    payment_id = uuid.UUID(checkout["payment"]["payment_id"])
    intent_id = await db.fetchval(
        """UPDATE orders.payments p SET stripe_payment_intent_id = NULL
           FROM (SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1) AS old
           WHERE p.payment_id = $1 AND p.intent_requested_at IS NOT NULL
           RETURNING old.stripe_payment_intent_id""",
        payment_id,
    )
    assert intent_id, "checkout recorded no intent request"
    intent = await stripe_intent(stack, intent_id)
    assert intent.to_dict()["metadata"]["payment_id"] == str(payment_id)
    return checkout, intent_id


async def stored_intent(db: asyncpg.Connection, payment_id: str) -> str | None:
    return await db.fetchval(
        "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", uuid.UUID(payment_id)
    )


async def test_orphan_of_a_waiting_payment_is_attached_and_the_buyer_pays_through_it(
    stack: Stack, db: asyncpg.Connection
) -> None:
    buyer = new_buyer(stack)
    checkout, intent_id = await orphaned_checkout(stack, db, buyer)
    payment_id = checkout["payment"]["payment_id"]
    started = time.monotonic()

    async def attached() -> bool:
        return await stored_intent(db, payment_id) == intent_id

    await eventually(attached, timeout=30, interval=0.1)
    print(f"orphan attached {time.monotonic() - started:.1f} s after the lost commit (grace 1 s, sweep every 1 s)")

    confirmed = await buyer.client.post(f"/payments/{payment_id}/confirm", json={"payment_method": "pm_card_visa"})
    assert confirmed.status_code == 202, confirmed.text

    async def paid() -> dict[str, Any] | None:
        state = (await buyer.client.get(f"/checkouts/{checkout['checkout_id']}")).json()
        return state if state["status"] == "paid" else None

    await eventually(paid, timeout=20)
    assert (await stripe_intent(stack, intent_id)).status == "succeeded"  # the orphan itself took the money, once
    assert await stored_intent(db, payment_id) == intent_id


async def test_orphan_of_an_expired_checkout_is_cancelled_at_stripe(stack: Stack, db: asyncpg.Connection) -> None:
    buyer = new_buyer(stack)
    checkout, intent_id = await orphaned_checkout(stack, db, buyer)
    stack.clock.advance(stack.apps["orders"].runtime.settings.payment_window_s + 1)

    async def expired() -> bool:
        state = (await buyer.client.get(f"/checkouts/{checkout['checkout_id']}")).json()
        return state["status"] == "expired"

    await eventually(expired, timeout=20)
    started = time.monotonic()

    async def cancelled() -> bool:
        return (await stripe_intent(stack, intent_id)).status == "canceled"

    await eventually(cancelled, timeout=30, interval=0.2)
    print(f"orphan of the expired checkout cancelled {time.monotonic() - started:.1f} s after it expired")
    assert await stored_intent(db, checkout["payment"]["payment_id"]) is None
