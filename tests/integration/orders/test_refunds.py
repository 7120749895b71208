"""Refunds against a Stripe that says no: answers localstripe cannot give (already refunded, refused for good).

The Stripe here is a small stand-in served on loopback: it makes no PaymentIntents (so checkouts have none
and their windows close without asking Stripe) and answers refunds as each test arranges by the intent id.
Money 'arrives' as signed `payment_intent.succeeded` webhooks built here, exactly as Stripe signs them.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from devstack.embedded import free_port
from libs.contracts import OrderPaid
from tests.harness import ServedApp, Stack, eventually, onboard_merchant

SERVICES = ("shop", "orders")


# Refunds of intents whose id starts with one of these are refused with that Stripe error code.
REFUSALS = {"pi_gone_": "charge_already_refunded", "pi_stuck_": "amount_too_large"}


@dataclass
class FakeStripe:
    """Just enough of Stripe's HTTP API: refunds by payment intent; everything else is refused."""

    refund_requests: list[str] = field(default_factory=list)
    # Where it is served (set once it is).
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, answer = self.answer(scope["method"], scope["path"], urllib.parse.parse_qs(body.decode()))
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    def answer(self, method: str, path: str, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        if (method, path) != ("POST", "/v1/refunds"):
            return 400, {"error": {"type": "invalid_request_error", "message": "not here"}}
        intent = form["payment_intent"][0]
        self.refund_requests.append(intent)
        for prefix, code in REFUSALS.items():
            if intent.startswith(prefix):
                return 400, {"error": {"type": "invalid_request_error", "code": code, "message": code}}
        return 200, {"id": f"re_{uuid.uuid4().hex[:12]}", "object": "refund", "payment_intent": intent}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    """The stand-in Stripe, served on loopback."""
    stripe = FakeStripe()
    served = ServedApp("stripe", stripe, free_port())  # type: ignore[arg-type]
    await served.start()
    stripe.url = served.url
    try:
        yield stripe
    finally:
        await served.stop()


@pytest.fixture(scope="module")
def stack_settings(fake_stripe: FakeStripe) -> dict[str, object]:
    """The module's services talk to the stand-in, not to localstripe."""
    return {"stripe_api_base": fake_stripe.url}


@dataclass
class Expired:
    """A checkout whose window closed unpaid (it never had a PaymentIntent)."""

    buyer: httpx.AsyncClient
    body: dict[str, Any]

    @property
    def payment_id(self) -> str:
        return self.body["payment"]["payment_id"]


async def open_checkout(stack: Stack) -> Expired:
    _, token = await onboard_merchant(stack, name="Tea")
    async with stack.client("shop", token) as seller:
        made = await seller.post(
            "/seller/products",
            json={"title": "Tea", "skus": [{"name": "1", "price_minor": 1500, "currency": "USD", "stock": 5}]},
        )
    buyer = stack.client("orders", stack.infra.token("buyer"))
    placed = await buyer.post(
        "/checkout",
        json={"items": [{"sku_id": made.json()["skus"][0]["sku_id"], "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 201, placed.text
    assert placed.json()["payment"]["client_secret"] is None  # this Stripe makes no intents
    return Expired(buyer, placed.json())


async def expired_checkout(stack: Stack) -> Expired:
    c = await open_checkout(stack)
    stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
    await eventually(lambda: _checkout_is(c, "expired"), timeout=10)
    return c


def money_arrived(stack: Stack, c: Expired, intent_id: str) -> tuple[str, str]:
    """A signed `payment_intent.succeeded` for this checkout's payment, as Stripe sends it: (payload, signature)."""
    payload = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": intent_id,
                    "object": "payment_intent",
                    "amount": c.body["amount_minor"],
                    "currency": "usd",
                    "status": "succeeded",
                    "metadata": {"checkout_id": c.body["checkout_id"], "payment_id": c.payment_id},
                }
            },
        }
    )
    t = int(time.time())
    mac = hmac.new(stack.infra.webhook_secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return payload, f"t={t},v1={mac}"


async def deliver(stack: Stack, payload: str, sig: str) -> httpx.Response:
    async with stack.client("orders") as stripe_side:
        return await stripe_side.post(
            "/stripe/webhook",
            content=payload.encode(),
            headers={"Stripe-Signature": sig, "Content-Type": "application/json"},
        )


async def _state(c: Expired) -> dict[str, Any]:
    response = await c.buyer.get(f"/checkouts/{c.body['checkout_id']}")
    assert response.status_code == 200, response.text
    return response.json()


async def _checkout_is(c: Expired, status: str) -> bool:
    return (await _state(c))["status"] == status


async def _payment_is(c: Expired, status: str) -> bool:
    return (await _state(c))["payment"]["status"] == status


async def test_refund_that_stripe_says_was_already_made_counts_as_refunded(
    stack: Stack, fake_stripe: FakeStripe
) -> None:
    c = await expired_checkout(stack)
    intent_id = f"pi_gone_{uuid.uuid4().hex[:10]}"
    async with aclosing(c.buyer):
        answer = await deliver(stack, *money_arrived(stack, c, intent_id))
        assert answer.json() == {"status": "refunding"}, answer.text
        await eventually(lambda: _payment_is(c, "refunded"), timeout=10)
    assert fake_stripe.refund_requests.count(intent_id) == 1


async def test_refund_stripe_keeps_refusing_stays_owed_and_is_logged_as_an_error(
    stack: Stack, fake_stripe: FakeStripe, caplog: pytest.LogCaptureFixture
) -> None:
    c = await expired_checkout(stack)
    intent_id = f"pi_stuck_{uuid.uuid4().hex[:10]}"
    async with aclosing(c.buyer):
        with caplog.at_level(logging.ERROR, logger="services.orders"):
            answer = await deliver(stack, *money_arrived(stack, c, intent_id))
            assert answer.json() == {"status": "refunding"}, answer.text
            await eventually(lambda: intent_id in fake_stripe.refund_requests, timeout=10)
            # Tried again (the scheduler backs off 1 s, 2 s... on the service's clock).
            stack.clock.advance(5)
            await eventually(lambda: fake_stripe.refund_requests.count(intent_id) >= 2, timeout=10)
        assert await _payment_is(c, "succeeded_after_cancel")
    refusals = [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and r.name.startswith("services.orders") and c.payment_id in r.getMessage()
    ]
    assert refusals, [r.getMessage() for r in caplog.records]
    assert "amount_too_large" in refusals[0].getMessage()


async def test_webhook_and_window_job_racing_never_both_pay_and_refund(
    stack: Stack, fake_stripe: FakeStripe, db: asyncpg.Connection
) -> None:
    # Which side wins depends on timing (both do, over these delays, on a laptop); each round checks the end state.
    for delay in (0.0, 0.05, 0.1, 0.15, 0.3):
        c = await open_checkout(stack)
        intent_id = f"pi_ok_{uuid.uuid4().hex[:10]}"
        payload, sig = money_arrived(stack, c, intent_id)
        async with aclosing(c.buyer):
            # The window's job becomes due now (the scheduler looks every 0.1 s) while the money's webhook lands.
            stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
            await asyncio.sleep(delay)
            answers = await asyncio.gather(deliver(stack, payload, sig), deliver(stack, payload, sig))
            assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
            statuses = sorted(a.json()["status"] for a in answers)
            assert statuses in (["duplicate", "paid"], ["duplicate", "refunding"]), statuses
            order_id = c.body["orders"][0]["order_id"]
            if "paid" in statuses:
                await asyncio.sleep(0.3)  # let a late job run, if it were going to do anything
                state = await _state(c)
                assert (state["status"], state["payment"]["status"]) == ("paid", "succeeded")
                assert [o["status"] for o in state["orders"]] == ["paid"]
                assert intent_id not in fake_stripe.refund_requests
                assert await _paid_events(db, order_id) == 1
            else:
                await eventually(lambda c=c: _payment_is(c, "refunded"), timeout=10)
                state = await _state(c)
                assert (state["status"], [o["status"] for o in state["orders"]]) == ("expired", ["cancelled"])
                assert fake_stripe.refund_requests.count(intent_id) == 1
                assert await _paid_events(db, order_id) == 0


async def _paid_events(db: asyncpg.Connection, order_id: str) -> int:
    return await db.fetchval(
        """SELECT count(*) FROM orders.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'order_id' = $2""",
        OrderPaid.SUBJECT,
        order_id,
    )
