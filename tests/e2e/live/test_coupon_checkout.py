"""A coupon claimed in a live room takes money off a checkout, exactly once, over HTTP only (and Stripe)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import stripe

from tests.e2e.flows import Shopfront, open_shopfront
from tests.harness import PROBLEM, Stack, eventually

PRICE = 2599
AMOUNT_OFF = 500


async def live_room_with_drop(stack: Stack) -> tuple[Shopfront, str]:
    """A live room selling one product, with a watching buyer and an amount-off coupon drop."""
    front = await open_shopfront(stack, stock=10, price_minor=PRICE)  # its room is live
    async with stack.client("live", front.host_token) as host:
        dropped = await host.post(
            f"/rooms/{front.room_id}/coupon-drops",
            json={
                "kind": "amount_off",
                "amount_off_minor": AMOUNT_OFF,
                "currency": "USD",
                "min_spend_minor": 2000,
                "per_buyer_limit": 3,
                "total": 20,
                "valid_until": (stack.clock.now() + timedelta(hours=1)).isoformat(),
            },
        )
        assert dropped.status_code == 201, dropped.text
    async with stack.client("live", front.buyer_token) as buyer:
        joined = await buyer.post(f"/rooms/{front.room_id}/join")
        assert joined.status_code in (200, 201), joined.text
    return front, dropped.json()["drop_id"]


async def claim(stack: Stack, front: Shopfront, drop_id: str) -> str:
    async with stack.client("live", front.buyer_token) as buyer:
        claimed = await buyer.post(f"/rooms/{front.room_id}/coupon-drops/{drop_id}/claim")
    assert claimed.status_code == 201, claimed.text
    return claimed.json()["coupon_id"]


async def checkout(stack: Stack, front: Shopfront, coupon_id: str) -> httpx.Response:
    """One unit of the room's product with the coupon, under a fresh Idempotency-Key."""
    async with stack.client("orders", front.buyer_token) as orders:
        return await orders.post(
            "/checkout",
            json={
                "items": [{"sku_id": front.sku_ids[0], "quantity": 1, "room_id": front.room_id}],
                "coupon_ids": [coupon_id],
            },
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )


async def checkout_once_orders_know(stack: Stack, front: Shopfront, coupon_id: str) -> httpx.Response:
    """Check out as soon as orders has heard of the coupon (it learns of claims from live's event)."""

    async def attempt() -> httpx.Response | None:
        response = await checkout(stack, front, coupon_id)
        if response.status_code != 201 and response.json().get("type") == PROBLEM + "coupon-not-found":
            return None
        return response

    return await eventually(attempt, timeout=15, interval=0.2)


async def stripe_intent(stack: Stack, client_secret: str) -> stripe.PaymentIntent:
    """The PaymentIntent as Stripe holds it (the client secret names its intent, as Stripe.js reads it)."""
    http = stripe.HTTPXClient(timeout=10)
    client = stripe.StripeClient(
        "sk_test_liveloop",
        base_addresses={"api": stack.infra.stripe_base},  # type: ignore[typeddict-item]
        http_client=http,
    )
    try:
        return await client.v1.payment_intents.retrieve_async(client_secret.split("_secret_")[0])
    finally:
        await http.close_async()


async def test_a_coupon_claimed_in_a_live_room_discounts_the_order_once(stack: Stack) -> None:
    front, drop_id = await live_room_with_drop(stack)
    coupon_id = await claim(stack, front, drop_id)

    placed = await checkout_once_orders_know(stack, front, coupon_id)
    assert placed.status_code == 201, placed.text
    body = placed.json()
    (order,) = body["orders"]
    assert (order["subtotal_minor"], order["discount_minor"], order["coupon_id"]) == (PRICE, AMOUNT_OFF, coupon_id)
    assert order["amount_minor"] == PRICE - AMOUNT_OFF
    assert body["payment"]["amount_minor"] == PRICE - AMOUNT_OFF
    intent = await stripe_intent(stack, body["payment"]["client_secret"])
    assert (intent.amount, intent.currency) == (PRICE - AMOUNT_OFF, "usd")

    async with stack.client("orders", front.buyer_token) as orders:
        confirmed = await orders.post(
            f"/payments/{body['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code == 202, confirmed.text

        async def paid_order() -> dict | None:
            current = (await orders.get(f"/orders/{order['order_id']}")).json()
            return current if current["status"] == "paid" else None

        paid = await eventually(paid_order, timeout=15)
    assert (paid["subtotal_minor"], paid["discount_minor"], paid["coupon_id"]) == (PRICE, AMOUNT_OFF, coupon_id)
    assert paid["amount_minor"] == PRICE - AMOUNT_OFF
    assert sum(line["discount_minor"] for line in paid["lines"]) == AMOUNT_OFF
    intent = await stripe_intent(stack, body["payment"]["client_secret"])
    assert (intent.status, intent.amount) == ("succeeded", PRICE - AMOUNT_OFF)

    again = await checkout(stack, front, coupon_id)
    assert again.status_code == 409, again.text
    assert again.json()["type"] == PROBLEM + "coupon-used"


async def test_racing_checkouts_with_one_coupon_use_it_once(stack: Stack) -> None:
    front, drop_id = await live_room_with_drop(stack)
    coupon_id = await claim(stack, front, drop_id)
    # Orders learns of claims from live's events: a later claim it already knows means it almost surely knows
    # this one too; a race that still finds it unknown everywhere is run again.
    warm_up = await checkout_once_orders_know(stack, front, await claim(stack, front, drop_id))
    assert warm_up.status_code == 201, warm_up.text

    async def race() -> list[httpx.Response] | None:
        answers = await asyncio.gather(*(checkout(stack, front, coupon_id) for _ in range(5)))
        return (
            answers
            if any(a.status_code != 409 or a.json()["type"] != PROBLEM + "coupon-not-found" for a in answers)
            else None
        )

    answers = await eventually(race, timeout=15, interval=0.2)

    placed = [a for a in answers if a.status_code == 201]
    assert len(placed) == 1, [a.text for a in answers]
    refused = {a.json()["type"] for a in answers if a.status_code != 201}
    assert refused <= {PROBLEM + "coupon-used", PROBLEM + "coupon-not-found"}, refused
    (order,) = placed[0].json()["orders"]
    assert (order["coupon_id"], order["discount_minor"]) == (coupon_id, AMOUNT_OFF)
    async with stack.client("orders", front.buyer_token) as orders:
        mine = (await orders.get("/orders", params={"limit": 100})).json()["items"]
    assert [o["order_id"] for o in mine if o["coupon_id"] == coupon_id] == [order["order_id"]]
    assert (await checkout(stack, front, coupon_id)).json()["type"] == PROBLEM + "coupon-used"
