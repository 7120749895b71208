"""aftersales learns paid orders from orders' events, once each: the facts a later refund or return case stands on."""

from __future__ import annotations

from tests.harness import Stack, caught_up, delivered_twice, eventually, paid_order

SERVICES = ("aftersales",)


async def test_a_paid_order_is_remembered_once_however_often_it_arrives(stack: Stack) -> None:
    paid = paid_order()
    await delivered_twice(stack, paid)
    db = stack.apps["aftersales"].runtime.db

    async def stored() -> list:
        return await db.fetch("SELECT amount_minor, buyer_id FROM paid_orders WHERE order_id = $1", paid.order_id)

    rows = await eventually(stored, timeout=10)
    assert [(r["amount_minor"], r["buyer_id"]) for r in rows] == [(9000, paid.buyer_id)]
    await eventually(lambda: caught_up(stack, "aftersales", "aftersales__paid_orders", "ORDERS", deliveries=2))
    assert await db.fetchval("SELECT count(*) FROM paid_orders WHERE order_id = $1", paid.order_id) == 1


async def test_it_answers_health_and_ready(stack: Stack) -> None:
    async with stack.client("aftersales") as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
