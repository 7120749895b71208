"""A flash sale's funnel through the real purchase path (live, orders, shop, Stripe): units admitted, paid and
expired, admitted again after an expiry; sell-through and pay rate; the API, the rows and the metric agree, and the
room's review has the sale's line."""

from __future__ import annotations

from collections import Counter

import asyncpg

from tests.harness import Stack, eventually
from tests.integration.live.funnel.reading import fact_counts, funnel, minute_rows, step_points
from tests.integration.live.support import (
    SALE_PRICE,
    UNTHROTTLED,
    buy_once,
    control,
    new_sale,
    order_of,
    orders_of,
    room_selling,
    seller_with_stock,
)

SERVICES = ("shop", "live", "orders")
SETTINGS = UNTHROTTLED

SALE_STEPS = ("sale_admitted", "sale_paid", "sale_expired")


async def status_is(stack: Stack, token: str, order_id: str, status: str) -> bool:
    order = await order_of(stack, token, order_id)
    return order is not None and order["status"] == status


async def test_a_flash_sales_units_admitted_paid_and_expired(stack: Stack, db: asyncpg.Connection) -> None:
    before = step_points(stack.metrics["live"])
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=5, per_buyer_limit=2, pay_within_s=60, duration_s=3600)
    sale_id = sale["sale_id"]
    ann, ben, cat, dan, eve = (stack.infra.token("buyer") for _ in range(5))

    admitted = []
    for token, units in ((ann, 2), (ben, 1), (cat, 1), (dan, 1)):  # 5 units: sold out
        response = await buy_once(stack, room.room_id, sale_id, token, quantity=units)
        assert response.status_code == 201, response.text
        admitted.append((token, response.json()))
    orders = await orders_of(stack, admitted)
    for (token, _), order in zip(admitted[:2], orders[:2], strict=True):  # ann and ben pay: 3 units
        async with stack.client("orders", token) as client:
            paid = await client.post(
                f"/payments/{order['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
            )
        assert paid.status_code == 202, paid.text
        await eventually(lambda t=token, o=order: status_is(stack, t, o["order_id"], "paid"), timeout=20)

    stack.clock.advance(61)  # cat's and dan's admissions lapse: 2 units expire and go back on sale
    for token, order in zip((cat, dan), orders[2:], strict=True):
        await eventually(lambda t=token, o=order: status_is(stack, t, o["order_id"], "cancelled"), timeout=20)

    async def eve_buys() -> bool:
        response = await buy_once(stack, room.room_id, sale_id, eve, key="eve")
        return response.status_code == 201

    await eventually(eve_buys, timeout=20)  # admitted again: 6 units admitted of a sale of 5

    path = f"/rooms/{room.room_id}/flash-sales/{sale_id}/funnel"

    async def settled() -> dict | None:
        body = await funnel(stack, path, room.host)
        sale_units = body["sale"]
        done = (sale_units["admitted_units"], sale_units["paid_units"], sale_units["expired_units"]) == (6, 3, 2)
        return body if done else None

    body = await eventually(settled, timeout=30)
    assert body["sale"] == {
        "quantity": 5,
        "admitted_units": 6,
        "paid_units": 3,
        "expired_units": 2,
        "sell_through": 0.8,  # (6 admitted - 2 expired) of 5
        "pay_rate": 0.5,  # 3 paid of 6 admitted
    }
    assert (body["paid_orders"], body["buyers"]) == (2, 2)
    assert body["money"][0]["gross_paid_minor"] == 3 * SALE_PRICE

    # The rows say the same: one fact per admission and per paid or expired line; units in the rollups.
    facts = await fact_counts(db, "sale_id", sale_id)
    assert {step: facts[step] for step in SALE_STEPS} == {"sale_admitted": 5, "sale_paid": 2, "sale_expired": 2}
    rows = await minute_rows(db, "sale", sale_id)
    assert {step: rows[step]["quantity"] for step in SALE_STEPS} == {
        "sale_admitted": 6,
        "sale_paid": 3,
        "sale_expired": 2,
    }
    assert {step: rows[step]["n"] for step in SALE_STEPS} == {step: facts[step] for step in SALE_STEPS}

    # And the metric counted each of those facts once (this module's only test, so all of its points are this sale's).
    async def counted() -> Counter[str] | None:
        points = step_points(stack.metrics["live"])
        delta = Counter({step: points[step] - before[step] for step in SALE_STEPS})
        return delta if all(delta[step] == facts[step] for step in SALE_STEPS) else None

    assert await eventually(counted, timeout=5)

    await control(stack, room, "end")
    async with stack.client("live", room.merchant) as client:
        review = (await client.get(f"/rooms/{room.room_id}/review")).json()
    (line,) = review["sales"]
    assert {k: line[k] for k in ("sale_id", "quantity", "admitted_units", "paid_units", "expired_units")} == {
        "sale_id": sale_id,
        "quantity": 5,
        "admitted_units": 6,
        "paid_units": 3,
        "expired_units": 2,
    }
    assert (line["sell_through"], line["pay_rate"], line["gross_paid_minor"]) == (0.8, 0.5, 3 * SALE_PRICE)
    assert review["top_products"][0]["units"] == 3
