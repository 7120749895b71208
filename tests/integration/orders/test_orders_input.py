"""Hostile or mistyped input to orders answers 400 problem+json, never a 500 or a silent success: a checkout
line with a field we do not know, a webhook nested too deeply or signed in the future."""

from __future__ import annotations

import time
from contextlib import aclosing

import asyncpg

from tests.harness import Stack, assert_problem
from tests.integration.orders.support import buyer, checkout, seller_with_skus, stock
from tests.integration.orders.test_payment import (
    deliver,
    order_status,
    paid_events,
    purchase,
    signature,
    succeeded_event,
)

SERVICES = ("shop", "orders")


async def test_a_checkout_line_with_a_mistyped_field_is_refused_naming_it(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1250, 5))
    sku = seller.sku_ids[0]
    _, client = buyer(stack)
    async with client:
        # `price_minor` is not a field of a checkout line: a client that thinks it sets the price is told so.
        response = await checkout(client, [{"sku_id": sku, "quantity": 1, "price_minor": 1}])
        orders = (await client.get("/orders")).json()["items"]
    body = assert_problem(response, 400, "validation-failed", field="items[0].price_minor")
    assert "items[0].price_minor" in body["detail"]
    assert orders == []
    assert await stock(stack, seller, sku) == (5, 0)


async def test_a_checkout_with_an_unknown_top_level_field_is_refused_naming_it(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1250, 5))
    _, client = buyer(stack)
    async with client:
        response = await client.post(
            "/checkout",
            json={"items": [{"sku_id": seller.sku_id, "quantity": 1}], "coupon": "SAVE10"},
            headers={"Idempotency-Key": "typo"},
        )
    assert_problem(response, 400, "validation-failed", field="coupon")


async def test_webhook_signed_in_the_future_is_refused_and_the_order_stays_unpaid(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack)
    payload = succeeded_event(p)
    future = signature(payload, stack.infra.webhook_secret, at=int(time.time()) + 600)
    async with aclosing(p.buyer):
        assert_problem(await deliver(stack, payload, future), 400, "invalid-signature")
        assert await order_status(p) == "awaiting_payment"
    assert await paid_events(db, p.order_id) == []


async def test_webhook_signed_a_little_ahead_of_our_clock_is_accepted(stack: Stack) -> None:
    p = await purchase(stack)
    payload = succeeded_event(p)
    # Clocks drift: a few seconds ahead is within the tolerance, like a few seconds late.
    ahead = signature(payload, stack.infra.webhook_secret, at=int(time.time()) + 30)
    async with aclosing(p.buyer):
        answer = await deliver(stack, payload, ahead)
        assert answer.status_code == 200, answer.text
        assert await order_status(p) == "paid"


async def test_webhook_nested_too_deeply_with_a_valid_signature_is_refused(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack)
    depth = 5000
    payload = '{"id": "evt_deep", "type": "payment_intent.succeeded", "x": ' + "[" * depth + "]" * depth + "}"
    async with aclosing(p.buyer):
        response = await deliver(stack, payload, signature(payload, stack.infra.webhook_secret))
        assert_problem(response, 400, "invalid-event")
        assert await order_status(p) == "awaiting_payment"
    assert await paid_events(db, p.order_id) == []
