"""Paying again after a decline, and a PaymentIntent Stripe no longer knows (a restarted localstripe): the checkout
keeps one live intent, the buyer is charged once, and a window closing on a forgotten intent expires the checkout."""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import aclosing
from typing import Any

import asyncpg
import pytest

from libs.contracts import OrderPaid
from tests.harness import Stack, assert_problem, eventually
from tests.integration.orders.support import (
    Buyer,
    Seller,
    checkout,
    events_of,
    intent_id_of,
    intents_of_checkout,
    new_buyer,
    new_seller,
    stock,
    stripe_api,
)

SERVICES = ("shop", "orders")


async def _placed(stack: Stack, *, quantity: int = 2) -> tuple[Seller, Buyer, dict[str, Any]]:
    """A merchant with 3 units, and a buyer whose checkout of `quantity` of them awaits payment."""
    seller = await new_seller(stack, 1500, stock=3)
    buyer = new_buyer(stack)
    placed = await checkout(buyer.client, [{"sku_id": seller.sku_id, "quantity": quantity}])
    assert placed.status_code == 201, placed.text
    return seller, buyer, placed.json()


async def _confirm(buyer: Buyer, body: dict[str, Any], method: str):
    payment_id = body["payment"]["payment_id"]
    return await buyer.client.post(f"/payments/{payment_id}/confirm", json={"payment_method": method})


async def _state(buyer: Buyer, body: dict[str, Any]) -> tuple[str, str, str]:
    """(checkout, payment, first order) statuses as the buyer sees them."""
    checkout_view = await buyer.client.get(f"/checkouts/{body['checkout_id']}")
    assert checkout_view.status_code == 200, checkout_view.text
    order = await buyer.client.get(f"/orders/{body['orders'][0]['order_id']}")
    assert order.status_code == 200, order.text
    seen = checkout_view.json()
    return seen["status"], seen["payment"]["status"], order.json()["status"]


async def _declined(buyer: Buyer, body: dict[str, Any]) -> None:
    declined = await _confirm(buyer, body, "pm_card_chargeCustomerFail")
    assert_problem(declined, 402, "payment-failed")
    await eventually(lambda: _is(buyer, body, ("awaiting_payment", "failed", "awaiting_payment")), timeout=10)


async def _is(buyer: Buyer, body: dict[str, Any], expected: tuple[str, str, str]) -> bool:
    return await _state(buyer, body) == expected


async def _stock_is(stack: Stack, seller: Seller, expected: tuple[int, int]) -> bool:
    return await stock(stack, seller, seller.sku_id) == expected


async def _refunds(stack: Stack, db: asyncpg.Connection, body: dict[str, Any], paid_by: str) -> list[Any]:
    """Refunds Stripe made of the intent that took the money, and refunds orders owes for the payment."""
    async with stripe_api(stack) as api:
        response = await api.get("/v1/refunds", params={"payment_intent": paid_by})
    assert response.status_code == 200, response.text
    owed = await db.fetch("SELECT * FROM orders.refunds WHERE payment_id = $1", body["payment"]["payment_id"])
    return [*response.json()["data"], *owed]


# --- paying again after a decline -----------------------------------------------------------------


async def test_paying_with_a_good_card_after_a_decline_pays_once_and_cancels_the_declined_intent(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller, buyer, body = await _placed(stack)
    first_intent = intent_id_of(body["payment"]["client_secret"])
    async with aclosing(buyer.client):
        await _declined(buyer, body)

        paid = await _confirm(buyer, body, "pm_card_visa")
        assert paid.status_code == 202, paid.text
        assert paid.json()["status"] == "succeeded"
        await eventually(lambda: _is(buyer, body, ("paid", "succeeded", "paid")), timeout=15)
        # Confirming once more charges nothing.
        again = await _confirm(buyer, body, "pm_card_visa")
        assert again.status_code == 202, again.text
        assert again.json()["status"] == "succeeded"

    intents = await intents_of_checkout(stack, body["checkout_id"])
    assert intents.pop(first_intent) == "canceled"
    ((paid_by, status),) = intents.items()
    assert status == "succeeded"
    assert await _refunds(stack, db, body, paid_by) == []
    assert len(await events_of(db, OrderPaid.SUBJECT, body["orders"][0]["order_id"])) == 1
    await eventually(lambda: _stock_is(stack, seller, (1, 0)), timeout=10)


async def test_concurrent_payments_after_a_decline_leave_one_live_intent_and_charge_once(
    stack: Stack, db: asyncpg.Connection
) -> None:
    _, buyer, body = await _placed(stack)
    async with aclosing(buyer.client):
        await _declined(buyer, body)

        answers = await asyncio.gather(*(_confirm(buyer, body, "pm_card_visa") for _ in range(5)))
        for answer in answers:
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "succeeded"
        await eventually(lambda: _is(buyer, body, ("paid", "succeeded", "paid")), timeout=15)

    intents = await intents_of_checkout(stack, body["checkout_id"])
    # Every intent but the one that took the money was cancelled: none can charge the buyer later.
    assert sorted(intents.values()) == ["canceled"] * (len(intents) - 1) + ["succeeded"], intents
    stored = await db.fetchval(
        "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", body["payment"]["payment_id"]
    )
    assert intents[stored] == "succeeded"
    assert await _refunds(stack, db, body, stored) == []
    assert len(await events_of(db, OrderPaid.SUBJECT, body["orders"][0]["order_id"])) == 1


# --- a PaymentIntent Stripe no longer knows ---------------------------------------------------------


async def _forget_intent(db: asyncpg.Connection, body: dict[str, Any]) -> str:
    """Point the payment at an intent Stripe has never heard of, as after a restart of an in-memory Stripe."""
    gone = f"pi_gone{uuid.uuid4().hex[:16]}"
    await db.execute(
        "UPDATE orders.payments SET stripe_payment_intent_id = $2 WHERE payment_id = $1",
        body["payment"]["payment_id"],
        gone,
    )
    return gone


async def test_paying_a_checkout_whose_intent_stripe_forgot_pays_with_a_fresh_intent(
    stack: Stack, db: asyncpg.Connection
) -> None:
    _, buyer, body = await _placed(stack)
    gone = await _forget_intent(db, body)
    async with aclosing(buyer.client):
        paid = await _confirm(buyer, body, "pm_card_visa")
        assert paid.status_code == 202, paid.text
        assert paid.json()["status"] == "succeeded"
        await eventually(lambda: _is(buyer, body, ("paid", "succeeded", "paid")), timeout=15)
    stored = await db.fetchval(
        "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", body["payment"]["payment_id"]
    )
    assert stored != gone
    assert (await intents_of_checkout(stack, body["checkout_id"]))[stored] == "succeeded"
    assert len(await events_of(db, OrderPaid.SUBJECT, body["orders"][0]["order_id"])) == 1


async def test_window_closing_on_an_intent_stripe_forgot_expires_the_checkout_with_one_warning(
    stack: Stack, db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    seller, buyer, body = await _placed(stack)
    assert await stock(stack, seller, seller.sku_id) == (3, 2)
    gone = await _forget_intent(db, body)
    async with aclosing(buyer.client):
        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
        await eventually(lambda: _is(buyer, body, ("expired", "requires_payment", "cancelled")), timeout=10)
        # The units go back on the shelf.
        await eventually(lambda: _stock_is(stack, seller, (3, 0)), timeout=10)
        # The job is done: nothing is left to retry.
        await asyncio.sleep(0.5)
    pending = await db.fetchval(
        "SELECT count(*) FROM orders.due_jobs WHERE kind = 'payment_timeout' AND key = $1", body["checkout_id"]
    )
    assert pending == 0
    about = [r for r in caplog.records if body["checkout_id"] in r.getMessage() or gone in r.getMessage()]
    warnings = [r for r in about if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in about]
    assert warnings[0].levelno == logging.WARNING
    assert gone in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("services.orders", "libs"))]


# --- money taken by an intent the payment does not use ----------------------------------------------


async def test_money_taken_by_an_intent_the_payment_does_not_use_is_refunded_and_pays_nothing(
    stack: Stack, db: asyncpg.Connection
) -> None:
    _, buyer, body = await _placed(stack)
    async with aclosing(buyer.client):
        # An intent for this payment that is not the stored one (a twin that lost the race to be stored, or one given
        # up whose cancel never reached Stripe) is confirmed by the buyer's app all the same.
        async with stripe_api(stack) as api:
            stray = await api.post(
                "/v1/payment_intents",
                data={
                    "amount": str(body["amount_minor"]),
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                    "metadata[checkout_id]": body["checkout_id"],
                    "metadata[payment_id]": body["payment"]["payment_id"],
                },
            )
        assert stray.json()["status"] == "succeeded", stray.text
        stray_id = stray.json()["id"]

        async def refunded() -> bool:
            async with stripe_api(stack) as api:
                found = await api.get("/v1/refunds", params={"payment_intent": stray_id})
            return [r["amount"] for r in found.json()["data"]] == [body["amount_minor"]]

        await eventually(refunded, timeout=15)
        # That money paid nothing: the checkout still waits for its own intent, which then pays it once.
        assert await _state(buyer, body) == ("awaiting_payment", "requires_payment", "awaiting_payment")
        paid = await _confirm(buyer, body, "pm_card_visa")
        assert paid.status_code == 202, paid.text
        await eventually(lambda: _is(buyer, body, ("paid", "succeeded", "paid")), timeout=15)
    reasons = await db.fetch(
        "SELECT stripe_payment_intent_id, reason FROM orders.refunds WHERE payment_id = $1",
        body["payment"]["payment_id"],
    )
    assert [(r["stripe_payment_intent_id"], r["reason"]) for r in reasons] == [(stray_id, "superseded")]
    assert len(await events_of(db, OrderPaid.SUBJECT, body["orders"][0]["order_id"])) == 1
