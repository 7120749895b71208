"""Coupons claimed in live rooms, applied at checkout: over real HTTP, Postgres, NATS, shop and localstripe.

Live's `CouponClaimed` events are published here as live's relay would.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from libs.contracts import CouponClaimed, OrderPaid, OrderPlaced
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.orders.support import (
    Buyer,
    Seller,
    consumed_all,
    events_of,
    intent_id_of,
    new_buyer,
    new_seller,
    stripe_intent,
)

SERVICES = ("shop", "orders")


async def claimed(
    stack: Stack,
    db: asyncpg.Connection,
    buyer: Buyer,
    seller: Seller,
    *,
    valid_for: timedelta = timedelta(hours=2),
    **terms: Any,
) -> CouponClaimed:
    """A coupon the buyer claimed in the seller's room, once orders keeps it."""
    event = CouponClaimed(
        coupon_id=str(uuid.uuid4()),
        drop_id=str(uuid.uuid4()),
        room_id="room-coupons",
        merchant_id=seller.merchant_id,
        buyer_id=buyer.buyer_id,
        kind="percent_off" if "percent_off" in terms else "amount_off",
        currency=terms.pop("currency", "USD"),
        valid_until=stack.clock.now() + valid_for,
        **terms,
    )
    await publish(stack, event)
    await eventually(lambda: coupon_status(db, event.coupon_id), timeout=10)
    return event


async def coupon_status(db: asyncpg.Connection, coupon_id: str) -> str | None:
    return await db.fetchval("SELECT status FROM orders.coupons WHERE coupon_id = $1", coupon_id)


async def checkout(
    buyer: Buyer, items: list[dict[str, Any]], coupon_ids: list[str] | None = None, key: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"items": items} | ({"coupon_ids": coupon_ids} if coupon_ids is not None else {})
    return await buyer.client.post("/checkout", json=body, headers={"Idempotency-Key": key or str(uuid.uuid4())})


def item(sku_id: str, quantity: int = 1) -> dict[str, Any]:
    return {"sku_id": sku_id, "quantity": quantity, "room_id": "room-coupons"}


async def order_of(buyer: Buyer, order_id: str) -> dict[str, Any]:
    response = await buyer.client.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def reserved(stack: Stack, seller: Seller) -> list[int]:
    async with stack.client("shop", seller.token) as client:
        skus = (await client.get(f"/seller/products/{seller.product_id}")).json()["skus"]
    return [s["stock_reserved"] for s in skus]


# --- applying ------------------------------------------------------------------------------------


async def test_amount_off_coupon_discounts_its_order_spread_over_lines_and_stripe_charges_the_total(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller, other = await new_seller(stack, 1000, 500), await new_seller(stack, 700)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon = await claimed(stack, db, buyer, seller, amount_off_minor=300, min_spend_minor=2500)
        items = [item(seller.sku_ids[0], 2), item(seller.sku_ids[1]), item(other.sku_ids[0])]
        placed = await checkout(buyer, items, [coupon.coupon_id])
        assert placed.status_code == 201, placed.text
        body = placed.json()
        # 2500 - 300 for the seller's order, 700 for the other merchant's; one payment for both.
        assert (body["amount_minor"], body["payment"]["amount_minor"]) == (2900, 2900)
        intent = await stripe_intent(stack, intent_id_of(body["payment"]["client_secret"]))
        assert (intent.amount, intent.currency) == (2900, "usd")
        mine = next(o for o in body["orders"] if o["merchant_id"] == seller.merchant_id)
        order = await order_of(buyer, mine["order_id"])
        assert (order["subtotal_minor"], order["discount_minor"], order["amount_minor"], order["coupon_id"]) == (
            2500,
            300,
            2200,
            coupon.coupon_id,
        )
        assert [(ln["discount_minor"], ln["amount_minor"]) for ln in order["lines"]] == [(240, 1760), (60, 440)]
        theirs = next(o for o in body["orders"] if o["merchant_id"] == other.merchant_id)
        assert (theirs["discount_minor"], theirs["amount_minor"], theirs["coupon_id"]) == (0, 700, None)
        assert await coupon_status(db, coupon.coupon_id) == "used"
        (placed_event,) = await events_of(db, OrderPlaced.SUBJECT, mine["order_id"])
        assert (placed_event["coupon_id"], placed_event["discount_minor"], placed_event["amount_minor"]) == (
            coupon.coupon_id,
            300,
            2200,
        )

        # Paid: the order keeps its coupon, even once the payment window would have closed.
        confirmed = await buyer.client.post(
            f"/payments/{body['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code == 202, confirmed.text
        await eventually(lambda: _order_status_is(buyer, mine["order_id"], "paid"), timeout=15)
        (paid,) = await events_of(db, OrderPaid.SUBJECT, mine["order_id"])
        assert (paid["coupon_id"], paid["discount_minor"], paid["amount_minor"]) == (coupon.coupon_id, 300, 2200)
        assert [ln["discount_minor"] for ln in paid["lines"]] == [240, 60]
    assert await coupon_status(db, coupon.coupon_id) == "used"


async def test_percent_off_coupon_rounds_the_discount_down(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 999)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon = await claimed(stack, db, buyer, seller, percent_off=15)
        placed = await checkout(buyer, [item(seller.sku_ids[0])], [coupon.coupon_id])
        assert placed.status_code == 201, placed.text
        (order,) = placed.json()["orders"]
        # 15 % of 999 is 149.85: the buyer gets 149 off.
        assert (order["subtotal_minor"], order["discount_minor"], order["amount_minor"]) == (999, 149, 850)
        intent = await stripe_intent(stack, intent_id_of(placed.json()["payment"]["client_secret"]))
        assert intent.amount == 850


async def test_one_coupon_in_concurrent_checkouts_is_used_by_exactly_one(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 2000)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon = await claimed(stack, db, buyer, seller, amount_off_minor=500)
        answers = await asyncio.gather(
            *(checkout(buyer, [item(seller.sku_ids[0])], [coupon.coupon_id]) for _ in range(5))
        )
        won = [a for a in answers if a.status_code == 201]
        assert len(won) == 1, [a.text for a in answers]
        for lost in (a for a in answers if a.status_code != 201):
            assert_problem(lost, 409, "coupon-used")
        (order,) = won[0].json()["orders"]
        assert order["amount_minor"] == 1500
        listed = (await buyer.client.get("/orders")).json()["items"]
        assert [o["order_id"] for o in listed] == [order["order_id"]]
    assert (
        await db.fetchval("SELECT order_id::text FROM orders.coupons WHERE coupon_id = $1", coupon.coupon_id)
        == order["order_id"]
    )


async def test_replayed_checkout_answers_the_same_and_uses_no_other_coupon(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller = await new_seller(stack, 2000)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon = await claimed(stack, db, buyer, seller, amount_off_minor=500)
        key = str(uuid.uuid4())
        first = await checkout(buyer, [item(seller.sku_ids[0])], [coupon.coupon_id], key=key)
        assert first.status_code == 201, first.text
        replays = await asyncio.gather(
            *(checkout(buyer, [item(seller.sku_ids[0])], [coupon.coupon_id], key=key) for _ in range(3))
        )
        for replay in replays:
            assert replay.status_code == 201, replay.text
            assert replay.json()["checkout_id"] == first.json()["checkout_id"]
            assert replay.json()["amount_minor"] == 1500
        assert len((await buyer.client.get("/orders")).json()["items"]) == 1
        # The same key with other coupons is another request: refused, nothing used.
        other = await claimed(stack, db, buyer, seller, amount_off_minor=100)
        reused = await checkout(buyer, [item(seller.sku_ids[0])], [other.coupon_id], key=key)
        assert_problem(reused, 422, "idempotency-key-reused")
    assert await coupon_status(db, other.coupon_id) == "available"
    assert await reserved(stack, seller) == [1]


# --- refusals ------------------------------------------------------------------------------------


async def test_coupons_that_cannot_be_used_are_refused_naming_them_and_nothing_changes(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller, other = await new_seller(stack, 1000), await new_seller(stack, 1000)
    buyer, someone = new_buyer(stack), new_buyer(stack)
    async with buyer.client, someone.client:
        good = await claimed(stack, db, buyer, seller, amount_off_minor=100)
        theirs = await claimed(stack, db, someone, seller, amount_off_minor=100)
        expired = await claimed(stack, db, buyer, seller, amount_off_minor=100, valid_for=timedelta(seconds=-1))
        second = await claimed(stack, db, buyer, seller, percent_off=10)
        used = await claimed(stack, db, buyer, other, amount_off_minor=100)
        assert (await checkout(buyer, [item(other.sku_ids[0])], [used.coupon_id])).status_code == 201
        reserved_before = await reserved(stack, seller)
        cart = [item(seller.sku_ids[0]), item(other.sku_ids[0])]
        # Refusals that need no prices: before any stock is held.
        for coupon_ids, status, code in [
            ([good.coupon_id, str(uuid.uuid4())], 404, "coupon-not-found"),
            ([good.coupon_id, theirs.coupon_id], 404, "coupon-not-found"),
            ([good.coupon_id, expired.coupon_id], 409, "coupon-expired"),
            ([good.coupon_id, used.coupon_id], 409, "coupon-used"),
            ([good.coupon_id, second.coupon_id], 422, "one-coupon-per-order"),
        ]:
            assert_problem(await checkout(buyer, cart, coupon_ids), status, code, "coupon_ids[1]")
        assert await reserved(stack, seller) == reserved_before
        assert_problem(await checkout(buyer, cart, ["not-a-coupon"]), 400, "validation-failed", "coupon_ids[0]")
        assert [o["coupon_id"] for o in (await buyer.client.get("/orders")).json()["items"]] == [used.coupon_id]
    for coupon in (good, theirs, second):
        assert await coupon_status(db, coupon.coupon_id) == "available"


async def test_coupons_refused_on_the_prices_name_the_reason(stack: Stack, db: asyncpg.Connection) -> None:
    seller, other = await new_seller(stack, 1000), await new_seller(stack, 1000)
    buyer = new_buyer(stack)
    async with buyer.client:
        for terms, code, field in [
            ({"amount_off_minor": 100, "min_spend_minor": 1001}, "coupon-min-spend-not-met", "coupon_ids[0]"),
            ({"amount_off_minor": 100, "currency": "EUR"}, "coupon-currency-mismatch", "coupon_ids[0]"),
            # 1000 - 951 = 49 cents: less than Stripe can charge.
            ({"amount_off_minor": 951}, "total-below-minimum-charge", "coupon_ids"),
            ({"percent_off": 100}, "total-below-minimum-charge", "coupon_ids"),
        ]:
            coupon = await claimed(stack, db, buyer, seller, **terms)
            assert_problem(await checkout(buyer, [item(seller.sku_ids[0])], [coupon.coupon_id]), 422, code, field)
            assert await coupon_status(db, coupon.coupon_id) == "available"
        for_other = await claimed(stack, db, buyer, other, amount_off_minor=100)
        refused = await checkout(buyer, [item(seller.sku_ids[0])], [for_other.coupon_id])
        assert_problem(refused, 422, "coupon-not-applicable", "coupon_ids[0]")
        assert (await buyer.client.get("/orders")).json()["items"] == []


# --- giving back ---------------------------------------------------------------------------------


async def test_coupon_of_an_order_cancelled_unpaid_comes_back_while_still_valid(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller = await new_seller(stack, 2000)
    buyer = new_buyer(stack)
    window = stack.infra.settings("orders").payment_window_s
    async with buyer.client:
        lasting = await claimed(stack, db, buyer, seller, amount_off_minor=500, valid_for=timedelta(seconds=window * 3))
        short = await claimed(stack, db, buyer, seller, percent_off=10, valid_for=timedelta(seconds=window // 2))
        placed = [
            (await checkout(buyer, [item(seller.sku_ids[0])], [c.coupon_id])).json()["orders"][0]["order_id"]
            for c in (lasting, short)
        ]
        stack.clock.advance(window + 1)
        for order_id in placed:
            await eventually(lambda order_id=order_id: _order_status_is(buyer, order_id, "cancelled"), timeout=15)
        assert await coupon_status(db, lasting.coupon_id) == "available"
        # The short one ran out meanwhile: it stays spent.
        assert await coupon_status(db, short.coupon_id) == "used"
        again = await checkout(buyer, [item(seller.sku_ids[0])], [lasting.coupon_id])
        assert again.status_code == 201, again.text
        assert again.json()["orders"][0]["discount_minor"] == 500
        assert_problem(await checkout(buyer, [item(seller.sku_ids[0])], [short.coupon_id]), 409, "coupon-used")


async def test_a_claim_delivered_again_changes_nothing_even_after_the_coupon_was_used(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller = await new_seller(stack, 2000)
    buyer = new_buyer(stack)
    async with buyer.client:
        coupon = await claimed(stack, db, buyer, seller, amount_off_minor=500)
        assert (await checkout(buyer, [item(seller.sku_ids[0])], [coupon.coupon_id])).status_code == 201
        # Re-published under a new message id (the inbox), and as a new event naming the same coupon (its key).
        await publish(stack, coupon, msg_id=str(uuid.uuid4()))
        fields = {f: getattr(coupon, f) for f in coupon.__struct_fields__ if f != "event_id"}
        await publish(stack, CouponClaimed(**fields))

        await eventually(lambda: consumed_all(stack, "orders__claimed_coupons"), timeout=15)
    assert await coupon_status(db, coupon.coupon_id) == "used"
    assert await db.fetchval("SELECT count(*) FROM orders.coupons WHERE coupon_id = $1", coupon.coupon_id) == 1


async def _order_status_is(buyer: Buyer, order_id: str, status: str) -> bool:
    return (await order_of(buyer, order_id))["status"] == status
