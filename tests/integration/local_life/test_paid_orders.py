"""local_life learns paid orders from orders' events, once each: the facts voucher issuance will hang off."""

from __future__ import annotations

from tests.harness import Stack, caught_up, delivered_twice, eventually, paid_order

SERVICES = ("local_life",)


async def test_a_paid_order_is_remembered_once_however_often_it_arrives(stack: Stack) -> None:
    paid = paid_order()
    await delivered_twice(stack, paid)
    db = stack.apps["local_life"].runtime.db

    async def stored() -> list:
        return await db.fetch("SELECT amount_minor, buyer_id FROM paid_orders WHERE order_id = $1", paid.order_id)

    rows = await eventually(stored, timeout=10)
    assert [(r["amount_minor"], r["buyer_id"]) for r in rows] == [(9000, paid.buyer_id)]
    await eventually(lambda: caught_up(stack, "local_life", "local_life__paid_orders", "ORDERS", deliveries=2))
    assert await db.fetchval("SELECT count(*) FROM paid_orders WHERE order_id = $1", paid.order_id) == 1


async def test_it_answers_health_and_ready(stack: Stack) -> None:
    async with stack.client("local_life") as client:
        assert (await client.get("/health")).json() == {"status": "ok"}
        ready = await client.get("/ready")
        assert ready.status_code == 200, ready.text
