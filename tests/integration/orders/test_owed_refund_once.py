"""Money orders owes back (a second intent of one payment took money) is refunded once, even when the
`refund_payment` job dies after Stripe made the refund and before it recorded it.

localstripe honours no idempotency key and refunds a refunded intent again, so the job's retry must read the
intent's refunds back before it makes one. Found by the invariant checker (devstack/invariants/, "refunds") with the
crash point `stripe.refunded` armed in-process; this test failed (two refunds of 1500 on a 1500 intent) before the fix.
"""

from __future__ import annotations

import asyncpg
import httpx

from libs import faults
from tests.harness import Stack, eventually
from tests.integration.orders.fake_stripe import stripe_refunds
from tests.integration.orders.support import new_seller

SERVICES = ("shop", "orders")


async def test_an_owed_refund_whose_job_died_after_stripe_refunded_is_made_once(
    stack: Stack, db: asyncpg.Connection
) -> None:
    infra = stack.infra
    seller = await new_seller(stack, 1500, stock=5)
    async with stack.client("orders", infra.token("buyer")) as orders:
        placed = await orders.post(
            "/checkout",
            headers={"Idempotency-Key": "owed-once"},
            json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]},
        )
    assert placed.status_code == 201, placed.text
    body = placed.json()
    faults.arm("stripe.refunded", after=1)
    try:
        async with httpx.AsyncClient(base_url=infra.stripe_base, auth=("sk_test_liveloop", ""), timeout=10) as api:
            # A second PaymentIntent of the same payment takes money (a twin a race left behind): orders owes it back.
            twin = (
                await api.post(
                    "/v1/payment_intents",
                    data={
                        "amount": 1500,
                        "currency": "usd",
                        "metadata[payment_id]": body["payment"]["payment_id"],
                        "metadata[checkout_id]": body["checkout_id"],
                    },
                )
            ).json()
            await api.post(f"/v1/payment_intents/{twin['id']}", data={"payment_method": "pm_card_visa"})
            confirmed = await api.post(f"/v1/payment_intents/{twin['id']}/confirm")
            assert confirmed.json()["status"] == "succeeded", confirmed.text

        async def refunded() -> asyncpg.Record | None:
            return await db.fetchrow(
                "SELECT status, stripe_refund_id FROM orders.refunds WHERE stripe_payment_intent_id = $1"
                " AND status = 'refunded'",
                twin["id"],
            )

        owed = await eventually(refunded, timeout=30, interval=0.1)
        # The first try died after Stripe refunded (the crash point fired); the retry made no second refund.
        assert not faults.pending("stripe.refunded")
    finally:
        faults.disarm()
    made = await stripe_refunds(infra.stripe_base, twin["id"])
    assert [(r["amount"], r["status"]) for r in made] == [(1500, "succeeded")]
    assert owed["stripe_refund_id"] == made[0]["id"]
