"""Orders payments over real HTTP, Postgres, NATS, shop and localstripe: confirm, webhooks, timeouts, refunds."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest_asyncio
from opentelemetry.trace import SpanKind

from libs.contracts import OrderPaid
from libs.telemetry import names
from tests.harness import Infra, Stack, eventually

PROBLEM = "https://liveloop.dev/problems/"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def st(infra: Infra) -> AsyncIterator[Stack]:
    stack = await Stack(infra).start("shop", "orders")
    yield stack
    await stack.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    """Orders' own tables, read to count what it announced (its outbox)."""
    conn = await asyncpg.connect(infra.database_url)
    yield conn
    await conn.close()


@dataclass
class Purchase:
    """A merchant's SKU, and a buyer holding an open checkout of `quantity` of it."""

    merchant_token: str
    product_id: str
    sku_id: str
    buyer: httpx.AsyncClient
    body: dict[str, Any]

    @property
    def order_id(self) -> str:
        return self.body["orders"][0]["order_id"]

    @property
    def payment_id(self) -> str:
        return self.body["payment"]["payment_id"]

    @property
    def intent_id(self) -> str:
        # Stripe's client secret is "<intent id>_secret_<random>".
        return self.body["payment"]["client_secret"].split("_secret_")[0]


async def purchase(
    st: Stack, *, price: int = 1999, stock: int = 5, quantity: int = 1, headers: dict[str, str] | None = None
) -> Purchase:
    infra = st.infra
    async with st.client("shop", infra.token("operator")) as op:
        made = await op.post("/merchants", json={"name": "Tea House", "currency": "USD"})
        assert made.status_code == 201, made.text
    merchant_token = infra.token("merchant", merchant_id=made.json()["merchant_id"])
    async with st.client("shop", merchant_token) as seller:
        product = await seller.post(
            "/seller/products",
            json={
                "title": "Matcha",
                "skus": [{"name": "30 g", "price_minor": price, "currency": "USD", "stock": stock}],
            },
        )
        assert product.status_code == 201, product.text
    sku_id = product.json()["skus"][0]["sku_id"]
    buyer = st.client("orders", infra.token("buyer"))
    placed = await buyer.post(
        "/checkout",
        json={"items": [{"sku_id": sku_id, "quantity": quantity, "room_id": "room-42"}]},
        headers={"Idempotency-Key": str(uuid.uuid4()), **(headers or {})},
    )
    assert placed.status_code == 201, placed.text
    return Purchase(merchant_token, product.json()["product_id"], sku_id, buyer, placed.json())


async def order_status(p: Purchase) -> str:
    response = await p.buyer.get(f"/orders/{p.order_id}")
    assert response.status_code == 200, response.text
    return response.json()["status"]


async def checkout_state(p: Purchase) -> dict[str, Any]:
    response = await p.buyer.get(f"/checkouts/{p.body['checkout_id']}")
    assert response.status_code == 200, response.text
    return response.json()


async def stock(st: Stack, p: Purchase) -> tuple[int, int]:
    async with st.client("shop", p.merchant_token) as seller:
        sku = (await seller.get(f"/seller/products/{p.product_id}")).json()["skus"][0]
    return sku["stock_on_hand"], sku["stock_reserved"]


async def confirm(p: Purchase, method: str = "pm_card_visa") -> httpx.Response:
    return await p.buyer.post(f"/payments/{p.payment_id}/confirm", json={"payment_method": method})


async def paid_events(db: asyncpg.Connection, order_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT headers FROM orders.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'order_id' = $2""",
        OrderPaid.SUBJECT,
        order_id,
    )


def succeeded_event(p: Purchase, *, event_id: str | None = None, amount: int | None = None) -> str:
    """A `payment_intent.succeeded` event as Stripe would send it for this purchase."""
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": p.intent_id,
                    "object": "payment_intent",
                    "amount": p.body["amount_minor"] if amount is None else amount,
                    "currency": p.body["currency"].lower(),
                    "status": "succeeded",
                    "metadata": {"checkout_id": p.body["checkout_id"], "payment_id": p.payment_id},
                }
            },
        }
    )


def signature(payload: str, secret: str, at: int | None = None) -> str:
    """Stripe's scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


async def deliver(st: Stack, payload: str, sig: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({"Stripe-Signature": sig} if sig else {})
    async with st.client("orders") as stripe_side:
        return await stripe_side.post("/stripe/webhook", content=payload.encode(), headers=headers)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM + code, response.json()


# --- paying -------------------------------------------------------------------------------------


async def test_card_payment_makes_the_order_paid_through_stripes_webhook(st: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(st, price=1999, stock=5, quantity=2)
    async with aclosing(p.buyer):
        assert await stock(st, p) == (5, 2)
        confirmed = await confirm(p)
        assert confirmed.status_code == 202, confirmed.text
        assert confirmed.json() == {"payment_id": p.payment_id, "status": "succeeded"}

        await eventually(lambda: _status_is(p, "paid"), timeout=15)
        order = (await p.buyer.get(f"/orders/{p.order_id}")).json()
        assert order["paid_at"] is not None
        state = await checkout_state(p)
        assert (state["status"], state["payment"]["status"]) == ("paid", "succeeded")
        assert len(await paid_events(db, p.order_id)) == 1
        # Shop committed the paid units: two left the shelf, none held.
        await eventually(lambda: _stock_is(st, p, (3, 0)), timeout=10)
        again = await confirm(p)
        assert_problem(again, 409, "already-paid")
    async with st.client("orders", p.merchant_token) as desk:
        assert (await desk.get(f"/seller/orders/{p.order_id}")).json()["status"] == "paid"


async def test_payment_span_links_back_to_the_checkout_and_carries_the_room(st: Stack, db: asyncpg.Connection) -> None:
    checkout_trace = uuid.uuid4().hex
    traceparent = f"00-{checkout_trace}-{uuid.uuid4().hex[:16]}-01"
    p = await purchase(st, headers={"traceparent": traceparent})
    async with aclosing(p.buyer):
        assert (await confirm(p)).status_code == 202
        await eventually(lambda: _status_is(p, "paid"), timeout=15)
    processing = [
        s
        for s in st.spans.get_finished_spans()
        if s.name == "stripe payment_intent.succeeded process"
        and s.attributes.get(names.PAYMENT_ID) == p.payment_id
        and s.kind == SpanKind.CONSUMER
    ]
    assert processing, "no span for processing the payment webhook"
    span = processing[0]
    assert [format(link.context.trace_id, "032x") for link in span.links] == [checkout_trace]
    assert span.context.trace_id != int(checkout_trace, 16)
    assert span.attributes.get(names.ROOM_ID) == "room-42"
    (event,) = await paid_events(db, p.order_id)
    assert f"{names.ROOM_ID}=room-42" in json.loads(event["headers"]).get("baggage", "")


async def test_declined_card_answers_402_and_the_order_keeps_waiting(st: Stack) -> None:
    p = await purchase(st)
    async with aclosing(p.buyer):
        declined = await confirm(p, "pm_card_chargeCustomerFail")
        assert_problem(declined, 402, "payment-failed")
        assert declined.json()["field"] == "payment_method"
        assert "declined" in declined.json()["detail"]
        await eventually(lambda: _payment_is(p, "failed"), timeout=10)
        assert await order_status(p) == "awaiting_payment"


async def test_confirming_someone_elses_or_an_unknown_payment_is_404(st: Stack) -> None:
    p = await purchase(st)
    async with aclosing(p.buyer), st.client("orders", st.infra.token("buyer")) as stranger:
        assert_problem(
            await stranger.post(f"/payments/{p.payment_id}/confirm", json={"payment_method": "pm_card_visa"}),
            404,
            "not-found",
        )
        assert_problem(
            await p.buyer.post(f"/payments/{uuid.uuid4()}/confirm", json={"payment_method": "pm_card_visa"}),
            404,
            "not-found",
        )
        missing = await p.buyer.post(f"/payments/{p.payment_id}/confirm", json={})
        assert missing.status_code == 400
        assert missing.json()["field"] == "payment_method"
        assert await order_status(p) == "awaiting_payment"


# --- webhooks -----------------------------------------------------------------------------------


async def test_webhook_with_a_bad_or_missing_signature_is_refused_and_changes_nothing(
    st: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(st)
    payload = succeeded_event(p)
    async with aclosing(p.buyer):
        assert_problem(await deliver(st, payload, signature(payload, "whsec_wrong")), 400, "invalid-signature")
        assert_problem(await deliver(st, payload, None), 400, "invalid-signature")
        assert_problem(await deliver(st, payload, "t=abc,v1=zzz"), 400, "invalid-signature")
        tampered = payload.replace('"succeeded"', '"succeeded" ', 1)
        good_for_original = signature(payload, st.infra.webhook_secret)
        assert_problem(await deliver(st, tampered, good_for_original), 400, "invalid-signature")
        assert await order_status(p) == "awaiting_payment"
        assert (await checkout_state(p))["payment"]["status"] == "requires_payment"
    assert await paid_events(db, p.order_id) == []


async def test_webhook_signed_too_long_ago_is_refused(st: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(st)
    payload = succeeded_event(p)
    stale = signature(payload, st.infra.webhook_secret, at=int(time.time()) - 600)
    async with aclosing(p.buyer):
        assert_problem(await deliver(st, payload, stale), 400, "invalid-signature")
        assert await order_status(p) == "awaiting_payment"
    assert await paid_events(db, p.order_id) == []


async def test_the_same_event_delivered_twice_pays_once(st: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(st)
    payload = succeeded_event(p)
    sig = signature(payload, st.infra.webhook_secret)
    async with aclosing(p.buyer):
        first = await deliver(st, payload, sig)
        assert first.status_code == 200, first.text
        assert first.json() == {"status": "paid"}
        second = await deliver(st, payload, sig)
        assert second.status_code == 200, second.text
        assert second.json() == {"status": "duplicate"}
        # A different event about the same, already-paid intent changes nothing either.
        other = succeeded_event(p)
        assert (await deliver(st, other, signature(other, st.infra.webhook_secret))).json() == {"status": "ignored"}
        assert await order_status(p) == "paid"
    assert len(await paid_events(db, p.order_id)) == 1


async def test_the_same_event_delivered_concurrently_pays_once(st: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(st)
    payload = succeeded_event(p)
    sig = signature(payload, st.infra.webhook_secret)
    async with aclosing(p.buyer):
        answers = await asyncio.gather(*(deliver(st, payload, sig) for _ in range(8)))
        assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 7 + ["paid"]
        assert await order_status(p) == "paid"
    assert len(await paid_events(db, p.order_id)) == 1


async def test_webhook_for_a_wrong_amount_or_an_unknown_intent_is_acknowledged_and_ignored(
    st: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(st)
    short = succeeded_event(p, amount=1)
    stranger = succeeded_event(p).replace(p.intent_id, "pi_not_ours").replace(p.payment_id, str(uuid.uuid4()))
    other_type = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "customer.created", "data": {"object": {}}})
    async with aclosing(p.buyer):
        for payload in (short, stranger, other_type):
            answer = await deliver(st, payload, signature(payload, st.infra.webhook_secret))
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"status": "ignored"}
        assert await order_status(p) == "awaiting_payment"
    assert await paid_events(db, p.order_id) == []


async def test_payment_that_lands_after_the_window_closed_is_refunded(st: Stack) -> None:
    p = await purchase(st, price=2500, stock=4, quantity=2)
    async with aclosing(p.buyer):
        confirmed = await confirm(p)
        assert confirmed.status_code == 202, confirmed.text
        # localstripe posts its webhook about a second later; the window closes before it lands.
        st.clock.advance(st.infra.settings("orders").payment_window_s + 1)
        await eventually(lambda: _status_is(p, "cancelled"), timeout=5)
        await eventually(lambda: _payment_is(p, "refunded"), timeout=15)
        assert (await checkout_state(p))["status"] == "expired"
        assert await order_status(p) == "cancelled"
    refunds = await _stripe_refunds(st, p.intent_id)
    assert [r["amount"] for r in refunds] == [5000]
    # The stock went back to the shelf, and stays there: the money went back too.
    await eventually(lambda: _stock_is(st, p, (4, 0)), timeout=10)


async def _stripe_refunds(st: Stack, intent_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=st.infra.stripe_base, auth=("sk_test_liveloop", "")) as stripe_api:
        response = await stripe_api.get("/v1/refunds", params={"payment_intent": intent_id})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _status_is(p: Purchase, status: str) -> bool:
    return await order_status(p) == status


async def _payment_is(p: Purchase, status: str) -> bool:
    return (await checkout_state(p))["payment"]["status"] == status


async def _stock_is(st: Stack, p: Purchase, expected: tuple[int, int]) -> bool:
    return await stock(st, p) == expected


# --- when a neighbour is away -------------------------------------------------------------------


async def test_checkout_answers_503_when_shop_does_not_answer(st: Stack) -> None:
    # A namespace of its own: no shop instance listens there.
    alone = await Stack(
        dataclasses.replace(st.infra, namespace=f"{st.infra.namespace}_{uuid.uuid4().hex[:6]}"), clock=st.clock
    ).start("orders")
    try:
        buyer = alone.client("orders", st.infra.token("buyer"))
        async with aclosing(buyer):
            response = await buyer.post(
                "/checkout",
                json={"items": [{"sku_id": str(uuid.uuid4()), "quantity": 1}]},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            assert_problem(response, 503, "stock-unavailable")
            assert (await buyer.get("/orders")).json()["items"] == []
    finally:
        await alone.stop()


async def test_checkout_survives_stripe_being_down_and_confirm_creates_the_intent_later(st: Stack) -> None:
    # A second deployment on the same database whose Stripe is unreachable takes the checkout...
    # (It shares our clock too: both schedulers run the same stored deadlines.)
    elsewhere = dataclasses.replace(st.infra, namespace=f"{st.infra.namespace}_{uuid.uuid4().hex[:6]}")
    offline = await Stack(elsewhere, clock=st.clock).start("shop", "orders", stripe_api_base="http://127.0.0.1:9")
    try:
        p = await purchase(offline)
        async with aclosing(p.buyer):
            assert p.body["payment"]["client_secret"] is None
            assert p.body["status"] == "awaiting_payment"
            assert_problem(await confirm(p), 503, "payment-provider-unavailable")
            assert (await checkout_state(p))["payment"]["status"] == "requires_payment"
    finally:
        await offline.stop()
    # ...and once Stripe answers again, confirming creates the one PaymentIntent and pays.
    buyer = st.client("orders", p.buyer.headers["Authorization"].removeprefix("Bearer "))
    p = dataclasses.replace(p, buyer=buyer)
    async with aclosing(buyer):
        confirmed = await confirm(p)
        assert confirmed.status_code == 202, confirmed.text
        assert confirmed.json()["status"] == "succeeded"
        await eventually(lambda: _status_is(p, "paid"), timeout=15)
