"""Steps of the live-purchase loop, driven over HTTP only, as the apps and back office would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tests.harness import Stack, eventually, onboard_merchant


@dataclass
class Shopfront:
    """A merchant with one two-SKU product, a host with a room selling it, and a buyer."""

    merchant_id: str
    merchant_token: str
    host_token: str
    buyer_token: str
    buyer_id: str
    room_id: str
    product_id: str
    sku_ids: list[str]
    price_minor: int


async def open_shopfront(stack: Stack, *, stock: int = 5, price_minor: int = 2599) -> Shopfront:
    """Operator onboards a merchant, the merchant lists a product, a host puts it in a live room's bag."""
    infra = stack.infra
    merchant_id, merchant_token = await onboard_merchant(stack)
    async with stack.client("shop", merchant_token) as seller:
        response = await seller.post(
            "/seller/products",
            json={
                "title": "Linen Shirt",
                "description": "Breathable summer linen",
                "skus": [
                    {"name": "M", "price_minor": price_minor, "currency": "USD", "stock": stock},
                    {"name": "L", "price_minor": price_minor, "currency": "USD", "stock": stock},
                ],
            },
        )
        assert response.status_code == 201, response.text
        product = response.json()
    host_token = infra.token("host", merchant_id=merchant_id)
    async with stack.client("live", host_token) as host:
        response = await host.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id})
        assert response.status_code == 201, response.text
        room_id = response.json()["room_id"]
        # Viewers join live rooms only.
        started = await host.post(f"/rooms/{room_id}/start")
        assert started.status_code == 200, started.text

        async def bag_accepts() -> bool:
            added = await host.post(f"/rooms/{room_id}/bag", json={"product_id": product["product_id"]})
            assert added.status_code in (200, 201, 409), added.text
            return added.status_code in (200, 201)

        await eventually(bag_accepts)
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return Shopfront(
        merchant_id=merchant_id,
        merchant_token=merchant_token,
        host_token=host_token,
        buyer_token=infra.token("buyer", sub=buyer_id),
        buyer_id=buyer_id,
        room_id=room_id,
        product_id=product["product_id"],
        sku_ids=[sku["sku_id"] for sku in product["skus"]],
        price_minor=price_minor,
    )


async def sku_stock(stack: Stack, front: Shopfront, sku_id: str) -> tuple[int, int]:
    """(on hand, reserved) of a SKU as its merchant sees it in the back office."""
    async with stack.client("shop", front.merchant_token) as seller:
        response = await seller.get(f"/seller/products/{front.product_id}")
        assert response.status_code == 200, response.text
        sku = next(s for s in response.json()["skus"] if s["sku_id"] == sku_id)
        return sku["stock_on_hand"], sku["stock_reserved"]


async def room_stats(stack: Stack, front: Shopfront) -> dict:
    """The room's counters as its host sees them."""
    async with stack.client("live", front.host_token) as host:
        response = await host.get(f"/rooms/{front.room_id}/stats")
        assert response.status_code == 200, response.text
        return response.json()
