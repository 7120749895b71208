"""What shop's integration tests share: a merchant with a product, and asking for stock as orders does."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec

from libs.contracts import RESERVE_STOCK, OrderLine, ReserveItem, ReserveStock, ReserveStockReply
from tests.harness import Infra, Stack, onboard_merchant


class Seller:
    """A merchant with one product, as the tests need it."""

    def __init__(self, stack: Stack, token: str, merchant_id: str, product: dict[str, Any]) -> None:
        self.stack = stack
        self.token = token
        self.merchant_id = merchant_id
        self.product = product
        self.sku_ids = [s["sku_id"] for s in product["skus"]]

    async def stock(self) -> list[tuple[int, int]]:
        """(on hand, reserved) per SKU, as the merchant's back office shows it."""
        async with self.stack.client("shop", self.token) as client:
            response = await client.get(f"/seller/products/{self.product['product_id']}")
        return [(s["stock_on_hand"], s["stock_reserved"]) for s in response.json()["skus"]]

    async def has_stock(self, expected: list[tuple[int, int]]) -> bool:
        return await self.stock() == expected


async def seller(stack: Stack, infra: Infra, *stocks: int, prices: tuple[int, ...] = ()) -> Seller:
    merchant_id, token = await onboard_merchant(stack, name="Acme")
    skus = [
        {"name": f"S{i}", "price_minor": prices[i] if i < len(prices) else 1000 + i, "stock": stock}
        for i, stock in enumerate(stocks)
    ]
    async with stack.client("shop", token) as client:
        response = await client.post("/seller/products", json={"title": "Tee", "skus": skus})
    assert response.status_code == 201, response.text
    return Seller(stack, token, merchant_id, response.json())


async def reserve(
    stack: Stack,
    items: list[tuple[str, int]] | list[ReserveItem],
    *,
    checkout_id: str | None = None,
    buyer_id: str = "buyer-1",
    hold_s: float = 3600,
    answer_within_s: float | None = None,
) -> ReserveStockReply:
    """Ask shop over its public NATS contract, as orders does at checkout."""
    runtime = stack.apps["shop"].runtime
    now = stack.clock.now()
    request = ReserveStock(
        checkout_id=checkout_id or str(uuid.uuid4()),
        buyer_id=buyer_id,
        items=[i if isinstance(i, ReserveItem) else ReserveItem(sku_id=i[0], quantity=i[1]) for i in items],
        hold_until=now + timedelta(seconds=hold_s),
        answer_by=None if answer_within_s is None else now + timedelta(seconds=answer_within_s),
    )
    return await runtime.bus.request(RESERVE_STOCK, request, ReserveStockReply)


def order_lines(reply: ReserveStockReply) -> list[OrderLine]:
    return [
        OrderLine(
            sku_id=line.sku_id,
            product_id=line.product_id,
            title=line.title,
            sku_name=line.sku_name,
            quantity=line.quantity,
            unit_price_minor=line.unit_price_minor,
            amount_minor=line.unit_price_minor * line.quantity,
            room_id=line.room_id,
        )
        for line in reply.lines
    ]


async def capture(stack: Stack, subject: str) -> tuple[list[dict[str, Any]], Any]:
    bus = stack.apps["shop"].runtime.bus
    got: list[dict[str, Any]] = []

    async def keep(msg: Any) -> None:
        got.append(msgspec.json.decode(msg.data))

    sub = await bus.nc.subscribe(bus.subject(subject), cb=keep)
    return got, sub.unsubscribe
