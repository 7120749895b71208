"""Deadlines survive a restart: the payment window is a stored job, not a timer in a process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio

from tests.harness import Infra, Stack, eventually
from tests.integration.test_orders_checkout import buyer, checkout, new_seller, stock


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def st(infra: Infra) -> AsyncIterator[Stack]:
    stack = await Stack(infra).start("shop", "orders")
    yield stack
    await stack.stop()


async def test_window_that_closes_while_orders_is_down_is_enforced_after_it_restarts(st: Stack) -> None:
    seller = await new_seller(st, (1000, 4))
    sku = seller.sku_ids[0]
    _, client = buyer(st)
    async with client:
        placed = (await checkout(client, [{"sku_id": sku, "quantity": 2}])).json()
        order_id = placed["orders"][0]["order_id"]
    assert await stock(st, seller, sku) == (4, 2)

    # The window closes while no orders process is running; a fresh one finds the stored deadline.
    window = st.infra.settings("orders").payment_window_s
    await st.restart("orders", while_down=lambda: st.clock.advance(window + 1))

    async with st.client("orders", seller.token) as desk:

        async def cancelled() -> dict[str, Any] | None:
            order = (await desk.get(f"/seller/orders/{order_id}")).json()
            return order if order["status"] == "cancelled" else None

        order = await eventually(cancelled, timeout=10)
    assert order["cancel_reason"] == "payment_timeout"
    await eventually(lambda: _released(st, seller, sku), timeout=10)


async def _released(st: Stack, seller: Any, sku: str) -> bool:
    return await stock(st, seller, sku) == (4, 0)
