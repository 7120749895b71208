"""What the live tests share: rooms made over HTTP, shop's product events, joins, a room feed reader; and for flash
sales, a merchant with a product in shop, a live room selling it, sales and purchases."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from libs.contracts import ProductPublished, SkuSnapshot
from tests.harness import Infra, Stack, eventually, onboard_merchant, publish


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Room:
    """A room created over HTTP, with the tokens of its host and its merchant."""

    room_id: str
    merchant_id: str
    host: str
    merchant: str
    body: dict[str, Any] = field(default_factory=dict)


async def create_room(stack: Stack, infra: Infra, merchant_id: str | None = None, host: str | None = None) -> Room:
    merchant_id = merchant_id or new_id()
    host = host or infra.token("host", merchant_id=merchant_id)
    async with stack.client("live", host) as client:
        response = await client.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id})
    assert response.status_code == 201, response.text
    body = response.json()
    return Room(body["room_id"], merchant_id, host, infra.token("merchant", merchant_id=merchant_id), body)


async def control(stack: Stack, room: Room, action: str, token: str | None = None, key: str = "live") -> dict:
    """Start or end the room as its host (or as `token`), expecting success."""
    async with stack.client(key, token or room.host) as client:
        response = await client.post(f"/rooms/{room.room_id}/{action}")
    assert response.status_code == 200, response.text
    return response.json()


async def live_room(stack: Stack, infra: Infra, merchant_id: str | None = None) -> Room:
    """A room that is live."""
    room = await create_room(stack, infra, merchant_id)
    await control(stack, room, "start")
    return room


async def join(stack: Stack, room: Room, token: str) -> httpx.Response:
    async with stack.client("live", token) as client:
        return await client.post(f"/rooms/{room.room_id}/join")


async def stats(stack: Stack, room: Room) -> dict:
    async with stack.client("live", room.host) as client:
        response = await client.get(f"/rooms/{room.room_id}/stats")
    assert response.status_code == 200, response.text
    return response.json()


def sku(name: str = "M", price_minor: int = 2599, stock: int = 5, sku_id: str | None = None) -> SkuSnapshot:
    return SkuSnapshot(
        sku_id=sku_id or new_id(), name=name, price_minor=price_minor, currency="USD", stock_available=stock
    )


def product_event(
    merchant_id: str,
    *,
    product_id: str | None = None,
    title: str = "Linen Shirt",
    version: int = 1,
    skus: list[SkuSnapshot] | None = None,
    occurred_at: datetime | None = None,
) -> ProductPublished:
    return ProductPublished(
        product_id=product_id or new_id(),
        merchant_id=merchant_id,
        title=title,
        version=version,
        skus=skus if skus is not None else [sku()],
        occurred_at=occurred_at or datetime.now(UTC),
    )


async def add_when_known(stack: Stack, token: str, room_id: str, product_id: str, key: str = "live") -> dict:
    """Add to the bag, retrying while live has not yet seen the product."""

    async def attempt() -> dict | None:
        async with stack.client(key, token) as client:
            response = await client.post(f"/rooms/{room_id}/bag", json={"product_id": product_id})
        if response.status_code == 409:
            return None
        assert response.status_code == 201, response.text
        return response.json()

    return await eventually(attempt)


async def bag_with(stack: Stack, room: Room, *titles: str) -> list[str]:
    """Publish products with these titles and put them in the room's bag in that order; their ids."""
    events = [product_event(room.merchant_id, title=title) for title in titles]
    for event in events:
        await publish(stack, event)
    for event in events:
        await add_when_known(stack, room.host, room.room_id, event.product_id)
    return [event.product_id for event in events]


async def get_bag(stack: Stack, room_id: str) -> dict:
    async with stack.client("live") as client:
        response = await client.get(f"/rooms/{room_id}/bag")
    assert response.status_code == 200, response.text
    return response.json()


async def bag_titles(stack: Stack, room_id: str) -> list[str]:
    return [item["title"] for item in (await get_bag(stack, room_id))["items"]]


@dataclass
class FeedEvent:
    event: str | None
    id: int | None
    data: Any
    comments: list[str]


class FeedReader:
    """An SSE client of `GET /rooms/{id}/feed` on one instance, reading one event at a time."""

    def __init__(self, stack: Stack, room_id: str, key: str = "live") -> None:
        self.url = f"{stack.url(key)}/rooms/{room_id}/feed"
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(30, read=None))
        self.response: httpx.Response | None = None
        self._stream: Any = None
        self._lines: Any = None

    async def __aenter__(self) -> FeedReader:
        self._stream = self.client.stream("GET", self.url)
        self.response = await self._stream.__aenter__()
        self._lines = self.response.aiter_lines()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stream.__aexit__(*exc)
        await self.client.aclose()

    async def next(self, timeout: float = 10.0) -> FeedEvent:
        """The next event (a comment-only block counts as one, with event None)."""
        return await asyncio.wait_for(self._read(), timeout)

    async def next_of(self, *kinds: str, timeout: float = 10.0) -> FeedEvent:
        """The next event of one of these kinds, skipping others (viewer counts, keep-alives)."""
        while True:
            event = await self.next(timeout)
            if event.event in kinds:
                return event

    async def _read(self) -> FeedEvent:
        event, event_id, data, comments = None, None, [], []
        async for line in self._lines:
            if not line:
                if event or data or comments:
                    return FeedEvent(event, event_id, json.loads("\n".join(data)) if data else None, comments)
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                comments.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                event_id = int(value)
            elif name == "data":
                data.append(value)
        raise EOFError("the feed ended")


# --- flash sales ------------------------------------------------------------------------------

SALE_PRICE = 999
LIST_PRICE = 4999
# High enough that the per-caller throttle never decides who buys.
UNTHROTTLED = {"purchase_burst": 100_000, "purchase_rate_per_s": 100_000.0}


@dataclass
class Seller:
    """A merchant onboarded in shop, with one product of one SKU."""

    merchant_id: str
    token: str
    product_id: str
    sku_id: str


async def seller_with_stock(stack: Stack, stock: int) -> Seller:
    merchant_id, token = await onboard_merchant(stack)
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
