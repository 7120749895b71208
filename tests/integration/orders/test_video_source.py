"""An order line bought from a short video names it (`OrderLine.video_id`): from the checkout item's `video_id`, else
from the cart line's video source as shop's reservation carries it; live vouches for the video at checkout.

Real shop, live, orders, Postgres, NATS and Stripe (localstripe).
"""

from __future__ import annotations

import uuid

import asyncpg

from tests.harness import Infra, Stack, assert_problem
from tests.integration.live.test_videos import body, publish_when_known
from tests.integration.orders.support import Seller, buyer, checkout, events_of, pay_checkout, seller_with_skus

SERVICES = ("shop", "live", "orders")


async def video_of(stack: Stack, infra: Infra, seller: Seller) -> str:
    """A video of the seller's host anchoring the seller's product."""
    host = infra.token("host", merchant_id=seller.merchant_id)
    return (await publish_when_known(stack, host, body({"product_id": seller.product_id})))["video_id"]


def videos_of(order: dict) -> list[str | None]:
    return [line["video_id"] for line in order["lines"]]


async def test_a_checkout_item_naming_a_video_puts_it_on_the_order_line_through_payment(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller = await seller_with_skus(stack, (1000, 5), (500, 5))
    video_id = await video_of(stack, infra, seller)
    _, client = buyer(stack)
    async with client:
        paid = await pay_checkout(
            stack,
            client,
            [
                {"sku_id": seller.sku_ids[0], "quantity": 2, "video_id": video_id},
                {"sku_id": seller.sku_ids[1], "quantity": 1},
            ],
        )
        order_id = paid["orders"][0]["order_id"]
        assert videos_of(paid["orders"][0]) == [video_id, None]
        order = (await client.get(f"/orders/{order_id}")).json()
    assert videos_of(order) == [video_id, None]
    for subject in ("orders.order.placed.v1", "orders.order.paid.v1"):
        (event,) = await events_of(db, subject, order_id)
        assert [line.get("video_id") for line in event["lines"]] == [video_id, None], subject


async def test_a_cart_line_from_a_video_carries_it_onto_the_order_line(stack: Stack, infra: Infra) -> None:
    seller = await seller_with_skus(stack, (1000, 5), (500, 5))
    video_id = await video_of(stack, infra, seller)
    buyer_id, client = buyer(stack)
    async with stack.client("shop", infra.token("buyer", sub=buyer_id)) as shop:
        source = {"type": "video", "id": video_id}
        added = await shop.post("/cart/items", json={"sku_id": seller.sku_ids[1], "quantity": 1, "source": source})
        assert added.status_code == 201, added.text
    async with client:
        placed = await checkout(
            client, [{"sku_id": seller.sku_ids[0], "quantity": 1}, {"sku_id": seller.sku_ids[1], "quantity": 1}]
        )
    assert placed.status_code == 201, placed.text
    assert videos_of(placed.json()["orders"][0]) == [None, video_id]


async def test_a_video_taken_down_after_the_cart_add_is_left_off_the_line(stack: Stack, infra: Infra) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    video_id = await video_of(stack, infra, seller)
    buyer_id, client = buyer(stack)
    async with stack.client("shop", infra.token("buyer", sub=buyer_id)) as shop:
        source = {"type": "video", "id": video_id}
        added = await shop.post("/cart/items", json={"sku_id": seller.sku_id, "quantity": 1, "source": source})
        assert added.status_code == 201, added.text
    async with stack.client("live", infra.token("merchant", merchant_id=seller.merchant_id)) as live:
        assert (await live.delete(f"/videos/{video_id}")).status_code == 204
    async with client:
        placed = await checkout(client, [{"sku_id": seller.sku_id, "quantity": 1}])
    # The buyer did nothing wrong: the order is placed, and the sale is not the video's.
    assert placed.status_code == 201, placed.text
    assert videos_of(placed.json()["orders"][0]) == [None]


async def test_a_checkout_naming_a_video_that_does_not_show_the_item_is_refused_and_creates_nothing(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    other = await seller_with_skus(stack, (700, 5))
    video_id = await video_of(stack, infra, seller)
    buyer_id, client = buyer(stack)
    async with client:
        cases = [
            (
                [{"sku_id": other.sku_id, "quantity": 1, "video_id": video_id}],
                "video-not-anchoring",
                "items[0].video_id",
            ),
            (
                [
                    {"sku_id": seller.sku_id, "quantity": 1},
                    {"sku_id": other.sku_id, "quantity": 1, "video_id": str(uuid.uuid4())},
                ],
                "unknown-video",
                "items[1].video_id",
            ),
            ([{"deal_id": str(uuid.uuid4()), "quantity": 1, "video_id": video_id}], "sku-or-deal", "items[0].video_id"),
        ]
        for items, code, field in cases:
            assert_problem(await checkout(client, items), 422, code, field)
        assert (await client.get("/orders")).json()["items"] == []
    assert await db.fetchval("SELECT count(*) FROM orders.checkouts WHERE buyer_id = $1", buyer_id) == 0
