"""A buyer placing checkouts in a burst is slowed down (429 with Retry-After), before any stock is held; other
buyers are not. Over real HTTP, Postgres, NATS, shop and localstripe."""

from __future__ import annotations

import uuid

from tests.harness import Stack, assert_problem
from tests.integration.orders.support import buyer, checkout, seller_with_skus, stock

SERVICES = ("shop", "orders")
# Three at once, then one every 100 s: the test never waits for a refill.
SETTINGS = {"checkout_burst": 3, "checkout_rate_per_s": 0.01}


async def test_a_burst_of_checkouts_from_one_buyer_is_throttled_and_holds_nothing(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 20))
    sku = seller.sku_ids[0]
    _, client = buyer(stack)
    async with client:
        answers = [await checkout(client, [{"sku_id": sku, "quantity": 1}]) for _ in range(5)]
        assert [a.status_code for a in answers[:3]] == [201, 201, 201], answers[-1].text
        for throttled in answers[3:]:
            body = assert_problem(throttled, 429, "too-many-requests")
            assert int(throttled.headers["Retry-After"]) >= 1
            assert body["retry_after_s"] >= 1
        # Only the three placed checkouts hold stock; the refused ones wrote nothing.
        assert await stock(stack, seller, sku) == (20, 3)
        assert len((await client.get("/orders")).json()["items"]) == 3
    _, other = buyer(stack)
    async with other:
        assert (await checkout(other, [{"sku_id": sku, "quantity": 1}], str(uuid.uuid4()))).status_code == 201
