"""Deadlines survive a restart: the payment window is a stored job, not a timer in a process."""

from __future__ import annotations

from typing import Any

from tests.harness import Stack, eventually
from tests.integration.orders.support import buyer, checkout, seller_with_skus, stock

SERVICES = ("shop", "orders")


async def test_window_that_closes_while_orders_is_down_is_enforced_after_it_restarts(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 4))
    sku = seller.sku_ids[0]
    _, client = buyer(stack)
    async with client:
        placed = (await checkout(client, [{"sku_id": sku, "quantity": 2}])).json()
        order_id = placed["orders"][0]["order_id"]
    assert await stock(stack, seller, sku) == (4, 2)

    # The window closes while no orders process is running; a fresh one finds the stored deadline.
    window = stack.infra.settings("orders").payment_window_s
    await stack.restart("orders", while_down=lambda: stack.clock.advance(window + 1))

    async with stack.client("orders", seller.token) as seller_client:

        async def cancelled() -> dict[str, Any] | None:
            order = (await seller_client.get(f"/seller/orders/{order_id}")).json()
            return order if order["status"] == "cancelled" else None

        order = await eventually(cancelled, timeout=10)
    assert order["cancel_reason"] == "payment_timeout"
    await eventually(lambda: _released(stack, seller, sku), timeout=10)


async def _released(stack: Stack, seller: Any, sku: str) -> bool:
    return await stock(stack, seller, sku) == (4, 0)
