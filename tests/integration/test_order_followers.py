"""aftersales and local_life learn paid orders from orders' events, once each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import msgspec
import pytest_asyncio

from libs.contracts import OrderLine, OrderPaid
from tests.harness import Infra, Stack, eventually


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def followers(infra: Infra) -> AsyncIterator[Stack]:
    stack = await Stack(infra).start("aftersales", "local_life")
    yield stack
    await stack.stop()


def _paid() -> OrderPaid:
    line = OrderLine(
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        title="Hotpot for two",
        sku_name="Weekday",
        quantity=2,
        unit_price_minor=4500,
        amount_minor=9000,
    )
    return OrderPaid(
        order_id=str(uuid.uuid4()),
        checkout_id=str(uuid.uuid4()),
        payment_id=str(uuid.uuid4()),
        buyer_id="buyer-followers",
        merchant_id=str(uuid.uuid4()),
        lines=[line],
        amount_minor=9000,
        currency="USD",
        paid_at=datetime.now(UTC),
    )


async def test_paid_order_is_remembered_once_by_aftersales_and_local_life(followers: Stack) -> None:
    paid = _paid()
    bus = followers.apps["aftersales"].runtime.bus
    # Delivered twice under different message ids, as a re-published outbox row would be.
    for msg_id in (paid.event_id, str(uuid.uuid4())):
        await bus.publish_event(paid.SUBJECT, msgspec.json.encode(paid), {}, msg_id)

    for service in ("aftersales", "local_life"):
        db = followers.apps[service].runtime.db

        async def stored(db=db) -> list:
            return await db.fetch("SELECT amount_minor, buyer_id FROM paid_orders WHERE order_id = $1", paid.order_id)

        rows = await eventually(stored, timeout=10)
        assert [(r["amount_minor"], r["buyer_id"]) for r in rows] == [(9000, "buyer-followers")]

    async def both_deliveries_settled() -> bool:
        for durable in ("aftersales__paid_orders", "local_life__paid_orders"):
            info = await bus.js.consumer_info(bus.stream("ORDERS"), durable)
            if info.num_pending or info.num_ack_pending or info.delivered.stream_seq < 2:
                return False
        return True

    await eventually(both_deliveries_settled)
    for service in ("aftersales", "local_life"):
        count = await followers.apps[service].runtime.db.fetchval(
            "SELECT count(*) FROM paid_orders WHERE order_id = $1", paid.order_id
        )
        assert count == 1, service


async def test_followers_answer_health_and_ready(followers: Stack) -> None:
    for service in ("aftersales", "local_life"):
        async with followers.client(service) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            ready = await client.get("/ready")
            assert ready.status_code == 200, ready.text
