"""Two confirms of one payment at once (a double tap, two devices), each with its own card.

Attaching the card and confirming are two calls to Stripe, so without a claim a second confirm could attach its card
between the first one's calls: the good card's confirm was charged against the other card and answered 402, and the
declining card's answered 400 (found by the seeded simulation; this test failed so before the claim). Now one
confirm of a payment runs at a time: the other waits its turn and answers from where the first left the payment.
"""

from __future__ import annotations

import asyncio
import uuid

from tests.harness import Stack
from tests.integration.orders.support import new_seller

SERVICES = ("shop", "orders")
SETTINGS = {"checkout_rate_per_s": 50.0, "checkout_burst": 100}
TRIALS = 12


def _answer(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()
    return f"{response.status_code} {str(body.get('type', body.get('status', ''))).rsplit('/', 1)[-1]}"


async def test_concurrent_confirms_with_different_cards_each_get_their_own_cards_answer(stack: Stack) -> None:
    seller = await new_seller(stack, 1500, stock=TRIALS + 5)
    seen = []
    for _ in range(TRIALS):
        async with stack.client("orders", stack.infra.token("buyer")) as buyer:
            placed = await buyer.post(
                "/checkout",
                headers={"Idempotency-Key": str(uuid.uuid4())},
                json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]},
            )
            assert placed.status_code == 201, placed.text
            payment_id = placed.json()["payment"]["payment_id"]
            good, declined = await asyncio.gather(
                buyer.post(f"/payments/{payment_id}/confirm", json={"payment_method": "pm_card_visa"}),
                buyer.post(f"/payments/{payment_id}/confirm", json={"payment_method": "pm_card_chargeCustomerFail"}),
            )
        seen.append((_answer(good), _answer(declined)))
    for good, declined in seen:
        # The good card is charged (first, or after the declined one), never declined for the other card's sake.
        assert good == "202 succeeded", seen
        # The declining card is declined, or its confirm, waiting its turn, finds the payment made by the good one.
        assert declined in ("402 payment-failed", "202 succeeded"), seen
