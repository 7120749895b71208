"""The first closed loop, over HTTP only: room → cart → checkout → Stripe → paid → stock → room counters."""

from __future__ import annotations

import uuid

from tests.e2e.flows import open_shopfront, room_stats, sku_stock
from tests.harness import Stack, eventually


async def test_viewer_buys_from_live_room_and_everyone_sees_it(stack: Stack) -> None:
    front = await open_shopfront(stack, stock=5, price_minor=2599)
    sku = front.sku_ids[0]

    async with stack.client("live", front.buyer_token) as live:
        assert (await live.post(f"/rooms/{front.room_id}/join")).status_code == 200
        bag = (await live.get(f"/rooms/{front.room_id}/bag")).json()
        assert [item["product_id"] for item in bag["items"]] == [front.product_id]

    async with stack.client("shop", front.buyer_token) as shop:
        added = await shop.post(
            "/cart/items", json={"sku_id": sku, "quantity": 2, "source": {"type": "room", "id": front.room_id}}
        )
        assert added.status_code == 201, added.text
        cart = (await shop.get("/cart")).json()["items"]
    assert [(line["sku_id"], line["quantity"]) for line in cart] == [(sku, 2)]

    async with stack.client("orders", front.buyer_token) as orders:
        checkout = await orders.post(
            "/checkout",
            json={
                "items": [
                    {"sku_id": line["sku_id"], "quantity": line["quantity"], "room_id": front.room_id} for line in cart
                ]
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert checkout.status_code == 201, checkout.text
        body = checkout.json()
        assert body["amount_minor"] == 2 * 2599
        assert body["payment"]["amount_minor"] == 2 * 2599
        (order,) = body["orders"]
        assert order["status"] == "awaiting_payment"
        assert await sku_stock(stack, front, sku) == (5, 2)

        paid = await orders.post(
            f"/payments/{body['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert paid.status_code == 202, paid.text

        async def order_is_paid() -> bool:
            current = (await orders.get(f"/orders/{order['order_id']}")).json()
            return current["status"] == "paid"

        await eventually(order_is_paid, timeout=15)

    # Shop committed the reservation: two units left the shelf, none are held any more.
    await eventually(lambda: _stock_is(stack, front, sku, (3, 0)), timeout=10)
    # Live counted the paid order and its amount for the room it came from.
    stats = await eventually(lambda: _paid_stats(stack, front), timeout=10)
    assert stats["paid_orders"] == 1
    assert stats["paid_amount_minor"] == 2 * 2599
    assert stats["views"] >= 1

    async with stack.client("orders", front.merchant_token) as seller:
        listed = (await seller.get("/seller/orders")).json()["items"]
    assert [o["order_id"] for o in listed] == [order["order_id"]]
    assert listed[0]["status"] == "paid"


async def _stock_is(stack: Stack, front, sku: str, expected: tuple[int, int]) -> bool:
    return await sku_stock(stack, front, sku) == expected


async def _paid_stats(stack: Stack, front) -> dict | None:
    stats = await room_stats(stack, front)
    return stats if stats["paid_orders"] else None
