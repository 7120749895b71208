"""What the flash-sale tests share: a merchant with a product in shop, a live room selling it, sales and purchases."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tests.harness import Infra, Stack, eventually
from tests.integration.live_support import Room, add_when_known, control, create_room

SALE_PRICE = 999
LIST_PRICE = 4999
# High enough that the per-caller throttle never decides who buys.
UNTHROTTLED = {"purchase_burst": 100_000, "purchase_rate_per_s": 100_000.0}


async def sales_stack(infra: Infra) -> Stack:
    """shop, live and orders with a second live instance (`live2`), the purchase throttle out of the way."""
    stack = await Stack(infra).start("shop", "live", "orders", **UNTHROTTLED)
    await stack.start_instance("live", "live2")
    return stack


@dataclass
class Seller:
    """A merchant onboarded in shop, with one product of one SKU."""

    merchant_id: str
    token: str
    product_id: str
    sku_id: str


async def seller_with_stock(stack: Stack, stock: int) -> Seller:
    infra = stack.infra
    async with stack.client("shop", infra.token("operator")) as ops:
        response = await ops.post("/merchants", json={"name": f"Merchant {uuid.uuid4().hex[:6]}", "currency": "USD"})
        assert response.status_code == 201, response.text
        merchant_id = response.json()["merchant_id"]
    token = infra.token("merchant", merchant_id=merchant_id)
    async with stack.client("shop", token) as shop:
        response = await shop.post(
            "/seller/products",
            json={
                "title": "Sneaker",
                "description": "Limited run",
                "skus": [{"name": "42", "price_minor": LIST_PRICE, "currency": "USD", "stock": stock}],
            },
        )
        assert response.status_code == 201, response.text
        product = response.json()
    return Seller(merchant_id, token, product["product_id"], product["skus"][0]["sku_id"])


async def room_selling(stack: Stack, seller: Seller, *, live: bool = True, host: str | None = None) -> Room:
    """A room of the seller's merchant with the product in its bag, started unless `live` is False."""
    room = await create_room(stack, stack.infra, seller.merchant_id, host)
    await add_when_known(stack, room.host, room.room_id, seller.product_id)
    if live:
        await control(stack, room, "start")
    return room


def sale_terms(seller: Seller, **terms: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku_id": seller.sku_id,
        "quantity": 10,
        "price_minor": SALE_PRICE,
        "per_buyer_limit": 1,
        "duration_s": 600,
    }
    body.update(terms)
    for name, value in list(body.items()):
        if isinstance(value, datetime):
            body[name] = value.isoformat()
    return body


async def open_sale(
    stack: Stack, room: Room, seller: Seller, *, token: str | None = None, key: str | None = None, **terms: Any
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    async with stack.client("live", token or room.host) as client:
        return await client.post(
            f"/rooms/{room.room_id}/flash-sales", json=sale_terms(seller, **terms), headers=headers
        )


async def new_sale(stack: Stack, room: Room, seller: Seller, **terms: Any) -> dict[str, Any]:
    response = await open_sale(stack, room, seller, **terms)
    assert response.status_code == 201, response.text
    return response.json()


async def buy(
    client: httpx.AsyncClient,
    room_id: str,
    sale_id: str,
    token: str,
    *,
    key: str | None = None,
    quantity: int = 1,
) -> httpx.Response:
    return await client.post(
        f"/rooms/{room_id}/flash-sales/{sale_id}/purchase",
        json={"quantity": quantity},
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key or uuid.uuid4().hex},
    )


class ClientPool:
    """Many one-connection clients of one instance: a burst of requests in flight at once.

    One httpx client with a deep queue spends its time scanning its own pool (quadratic); real buyers
    each have their own connection anyway.
    """

    def __init__(self, url: str, size: int = 50) -> None:
        self._clients = [
            httpx.AsyncClient(base_url=url, timeout=120, limits=httpx.Limits(max_connections=1)) for _ in range(size)
        ]
        self._free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for client in self._clients:
            self._free.put_nowait(client)

    async def buy(self, room_id: str, sale_id: str, token: str, **kwargs: Any) -> httpx.Response:
        client = await self._free.get()
        try:
            return await buy(client, room_id, sale_id, token, **kwargs)
        finally:
            self._free.put_nowait(client)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()


async def buy_once(stack: Stack, room_id: str, sale_id: str, token: str, **kwargs: Any) -> httpx.Response:
    async with stack.client("live") as client:
        return await buy(client, room_id, sale_id, token, **kwargs)


async def sale_view(stack: Stack, room_id: str, sale_id: str, key: str = "live") -> dict[str, Any]:
    async with stack.client(key) as client:
        response = await client.get(f"/rooms/{room_id}/flash-sales/{sale_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def remaining_is(stack: Stack, room_id: str, sale_id: str, expected: int) -> bool:
    return (await sale_view(stack, room_id, sale_id))["remaining"] == expected


async def shop_sku(stack: Stack, seller: Seller) -> dict[str, Any]:
    """The SKU as its merchant sees it in shop: stock on hand and reserved."""
    async with stack.client("shop", seller.token) as shop:
        response = await shop.get(f"/seller/products/{seller.product_id}")
    assert response.status_code == 200, response.text
    return next(s for s in response.json()["skus"] if s["sku_id"] == seller.sku_id)


async def available_in_shop(stack: Stack, seller: Seller) -> int:
    """Available stock of the SKU in shop's public catalogue view."""
    async with stack.client("shop") as shop:
        response = await shop.get(f"/products/{seller.product_id}")
    assert response.status_code == 200, response.text
    sku = next(s for s in response.json()["skus"] if s["sku_id"] == seller.sku_id)
    return sku["stock_available"]


async def order_of(stack: Stack, buyer_token: str, order_id: str) -> dict[str, Any] | None:
    async with stack.client("orders", buyer_token) as orders:
        response = await orders.get(f"/orders/{order_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    return response.json()


async def orders_of(stack: Stack, admitted: list[tuple[str, dict[str, Any]]], timeout: float = 30.0) -> list[dict]:
    """The order of each (buyer token, admission), waiting until orders has made them all."""

    async def all_there() -> list[dict] | None:
        found = await asyncio.gather(*(order_of(stack, token, a["order_id"]) for token, a in admitted))
        return found if all(found) else None

    return await eventually(all_there, timeout=timeout, interval=0.5)
