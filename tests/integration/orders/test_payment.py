"""Orders payments over real HTTP, Postgres, NATS, shop and localstripe: confirm, webhooks, timeouts, refunds."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from opentelemetry.trace import SpanKind

from libs.contracts import OrderPaid
from libs.telemetry import names
from tests.harness import Stack, assert_problem, eventually, onboard_merchant

SERVICES = ("shop", "orders")


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
    stack: Stack, *, price: int = 1999, stock: int = 5, quantity: int = 1, headers: dict[str, str] | None = None
) -> Purchase:
    infra = stack.infra
    _, merchant_token = await onboard_merchant(stack, name="Tea House")
    async with stack.client("shop", merchant_token) as seller:
        product = await seller.post(
            "/seller/products",
            json={
                "title": "Matcha",
                "skus": [{"name": "30 g", "price_minor": price, "currency": "USD", "stock": stock}],
            },
        )
        assert product.status_code == 201, product.text
    sku_id = product.json()["skus"][0]["sku_id"]
    buyer = stack.client("orders", infra.token("buyer"))
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


async def stock(stack: Stack, p: Purchase) -> tuple[int, int]:
    async with stack.client("shop", p.merchant_token) as seller:
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


async def deliver(stack: Stack, payload: str, sig: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({"Stripe-Signature": sig} if sig else {})
    async with stack.client("orders") as stripe_side:
        return await stripe_side.post("/stripe/webhook", content=payload.encode(), headers=headers)


# --- paying -------------------------------------------------------------------------------------


async def test_card_payment_makes_the_order_paid_through_stripes_webhook(stack: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(stack, price=1999, stock=5, quantity=2)
    async with aclosing(p.buyer):
        assert await stock(stack, p) == (5, 2)
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
        await eventually(lambda: _stock_is(stack, p, (3, 0)), timeout=10)
        # A retried confirm after the webhook answers how the payment stands, and charges nothing.
        again = await confirm(p)
        assert again.status_code == 202, again.text
        assert again.json() == {"payment_id": p.payment_id, "status": "succeeded"}
        assert len(await paid_events(db, p.order_id)) == 1
    async with stack.client("orders", p.merchant_token) as seller_client:
        assert (await seller_client.get(f"/seller/orders/{p.order_id}")).json()["status"] == "paid"


async def test_payment_span_links_back_to_the_checkout_and_carries_the_room(
    stack: Stack, db: asyncpg.Connection
) -> None:
    checkout_trace = uuid.uuid4().hex
    traceparent = f"00-{checkout_trace}-{uuid.uuid4().hex[:16]}-01"
    p = await purchase(stack, headers={"traceparent": traceparent})
    async with aclosing(p.buyer):
        assert (await confirm(p)).status_code == 202
        await eventually(lambda: _status_is(p, "paid"), timeout=15)
    processing = [
        s
        for s in stack.spans.get_finished_spans()
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


async def test_confirming_twice_in_a_row_or_at_once_charges_once(stack: Stack, db: asyncpg.Connection) -> None:
    in_a_row, at_once = await purchase(stack), await purchase(stack)
    async with aclosing(in_a_row.buyer), aclosing(at_once.buyer):
        first, second = await confirm(in_a_row), await confirm(in_a_row)
        answers = [first, second, *await asyncio.gather(*(confirm(at_once) for _ in range(4)))]
        for answer in answers:
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "succeeded"
        for p in (in_a_row, at_once):
            await eventually(lambda p=p: _status_is(p, "paid"), timeout=15)
            intent = await _stripe_intent(stack, p.intent_id)
            assert (intent["status"], intent["amount"]) == ("succeeded", p.body["amount_minor"])
            assert await _stripe_refunds(stack, p.intent_id) == []
            assert len(await paid_events(db, p.order_id)) == 1


async def test_declined_card_answers_402_and_the_order_keeps_waiting(stack: Stack) -> None:
    p = await purchase(stack)
    async with aclosing(p.buyer):
        declined = await confirm(p, "pm_card_chargeCustomerFail")
        assert_problem(declined, 402, "payment-failed")
        assert declined.json()["field"] == "payment_method"
        assert "declined" in declined.json()["detail"]
        await eventually(lambda: _payment_is(p, "failed"), timeout=10)
        assert await order_status(p) == "awaiting_payment"


async def test_confirming_someone_elses_or_an_unknown_payment_is_404(stack: Stack) -> None:
    p = await purchase(stack)
    async with aclosing(p.buyer), stack.client("orders", stack.infra.token("buyer")) as stranger:
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
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack)
    payload = succeeded_event(p)
    async with aclosing(p.buyer):
        assert_problem(await deliver(stack, payload, signature(payload, "whsec_wrong")), 400, "invalid-signature")
        assert_problem(await deliver(stack, payload, None), 400, "invalid-signature")
        assert_problem(await deliver(stack, payload, "t=abc,v1=zzz"), 400, "invalid-signature")
        tampered = payload.replace('"succeeded"', '"succeeded" ', 1)
        good_for_original = signature(payload, stack.infra.webhook_secret)
        assert_problem(await deliver(stack, tampered, good_for_original), 400, "invalid-signature")
        assert await order_status(p) == "awaiting_payment"
        assert (await checkout_state(p))["payment"]["status"] == "requires_payment"
    assert await paid_events(db, p.order_id) == []


async def test_webhook_body_that_is_not_utf8_is_refused_as_unsigned(stack: Stack) -> None:
    async with stack.client("orders") as stripe_side:
        response = await stripe_side.post(
            "/stripe/webhook", content=b"\xff\xfe{}", headers={"Stripe-Signature": "t=1,v1=00"}
        )
    assert_problem(response, 400, "invalid-signature")


async def test_webhook_signed_too_long_ago_is_refused(stack: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(stack)
    payload = succeeded_event(p)
    stale = signature(payload, stack.infra.webhook_secret, at=int(time.time()) - 600)
    async with aclosing(p.buyer):
        assert_problem(await deliver(stack, payload, stale), 400, "invalid-signature")
        assert await order_status(p) == "awaiting_payment"
    assert await paid_events(db, p.order_id) == []


async def test_the_same_event_delivered_twice_pays_once(stack: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(stack)
    payload = succeeded_event(p)
    sig = signature(payload, stack.infra.webhook_secret)
    async with aclosing(p.buyer):
        first = await deliver(stack, payload, sig)
        assert first.status_code == 200, first.text
        assert first.json() == {"status": "paid"}
        second = await deliver(stack, payload, sig)
        assert second.status_code == 200, second.text
        assert second.json() == {"status": "duplicate"}
        # A different event about the same, already-paid intent changes nothing either.
        other = succeeded_event(p)
        ignored = await deliver(stack, other, signature(other, stack.infra.webhook_secret))
        assert ignored.json() == {"status": "ignored"}
        assert await order_status(p) == "paid"
    assert len(await paid_events(db, p.order_id)) == 1


async def test_the_same_event_delivered_concurrently_pays_once(stack: Stack, db: asyncpg.Connection) -> None:
    p = await purchase(stack)
    payload = succeeded_event(p)
    sig = signature(payload, stack.infra.webhook_secret)
    async with aclosing(p.buyer):
        answers = await asyncio.gather(*(deliver(stack, payload, sig) for _ in range(8)))
        assert sorted(a.json()["status"] for a in answers) == ["duplicate"] * 7 + ["paid"]
        assert await order_status(p) == "paid"
    assert len(await paid_events(db, p.order_id)) == 1


async def test_webhook_for_an_unknown_intent_or_another_event_type_is_acknowledged_and_ignored(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack)
    stranger = succeeded_event(p).replace(p.intent_id, "pi_not_ours").replace(p.payment_id, str(uuid.uuid4()))
    other_type = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "customer.created", "data": {"object": {}}})
    async with aclosing(p.buyer):
        for payload in (stranger, other_type):
            answer = await deliver(stack, payload, signature(payload, stack.infra.webhook_secret))
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"status": "ignored"}
        assert await order_status(p) == "awaiting_payment"
    assert await paid_events(db, p.order_id) == []


async def test_money_of_the_wrong_amount_is_refunded_and_the_buyer_can_still_pay(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack, price=2500)
    async with aclosing(p.buyer):
        # Someone with the account's key switches the intent to euros, and the buyer's app confirms it client-side.
        # (Currency, not amount: localstripe would then send the amount as a string, which Stripe never does.)
        async with _stripe_api(stack) as stripe_api:
            changed = await stripe_api.post(f"/v1/payment_intents/{p.intent_id}", data={"currency": "eur"})
            assert changed.status_code == 200, changed.text
            await stripe_api.post(f"/v1/payment_intents/{p.intent_id}", data={"payment_method": "pm_card_visa"})
            taken = await stripe_api.post(f"/v1/payment_intents/{p.intent_id}/confirm")
            assert taken.json()["status"] == "succeeded", taken.text
        await eventually(lambda: _payment_is(p, "amount_mismatch"), timeout=15)
        await eventually(lambda: _refunded(stack, p.intent_id, [2500]), timeout=15)
        assert await order_status(p) == "awaiting_payment"
        assert await paid_events(db, p.order_id) == []

        # The window is still open: paying as asked (with a new intent) pays the order.
        paid = await confirm(p)
        assert paid.status_code == 202, paid.text
        assert paid.json()["status"] == "succeeded"
        await eventually(lambda: _status_is(p, "paid"), timeout=15)
        state = await checkout_state(p)
        assert (state["status"], state["payment"]["status"]) == ("paid", "succeeded")
    assert len(await paid_events(db, p.order_id)) == 1
    assert [(r["amount"], r["currency"]) for r in await _stripe_refunds(stack, p.intent_id)] == [(2500, "eur")]


async def test_payment_confirmed_inside_the_window_ends_paid_even_if_the_window_job_runs_first(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack, price=2500, stock=4, quantity=2)
    async with aclosing(p.buyer):
        confirmed = await confirm(p)
        assert confirmed.status_code == 202, confirmed.text
        # localstripe posts its webhook about a second later; the window's job runs before it lands.
        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
        await eventually(lambda: _window_job_ran(stack, p), timeout=10)
        await eventually(lambda: _status_is(p, "paid"), timeout=10)
        state = await checkout_state(p)
        assert (state["status"], state["payment"]["status"]) == ("paid", "succeeded")
        # The webhook that arrives afterwards finds it paid: acknowledged, nothing announced twice.
        await eventually(lambda: _stripe_events_of(db, p.payment_id, 1), timeout=10)
        assert await order_status(p) == "paid"
    assert len(await paid_events(db, p.order_id)) == 1
    assert await _stripe_refunds(stack, p.intent_id) == []
    # The two units left the shelf for good.
    await eventually(lambda: _stock_is(stack, p, (2, 0)), timeout=10)


async def test_money_that_arrives_after_the_window_closed_is_refunded(stack: Stack) -> None:
    # The checkout is placed while Stripe is away, so it has no intent when its window closes...
    elsewhere = dataclasses.replace(stack.infra, namespace=f"{stack.infra.namespace}_{uuid.uuid4().hex[:6]}")
    offline = await Stack(elsewhere, clock=stack.clock).start("shop", "orders", stripe_api_base="http://127.0.0.1:9")
    try:
        p = await purchase(offline, price=2500, quantity=2)
        await p.buyer.aclose()
    finally:
        await offline.stop()
    buyer = stack.client("orders", p.buyer.headers["Authorization"].removeprefix("Bearer "))
    p = dataclasses.replace(p, buyer=buyer)
    async with aclosing(buyer):
        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
        await eventually(lambda: _status_is(p, "cancelled"), timeout=10)
        # ...and an intent for it (one a confirm was creating as the window closed) takes the money afterwards.
        async with _stripe_api(stack) as stripe_api:
            late = await stripe_api.post(
                "/v1/payment_intents",
                data={
                    "amount": str(p.body["amount_minor"]),
                    "currency": "usd",
                    "payment_method": "pm_card_visa",
                    "confirm": "true",
                    "metadata[checkout_id]": p.body["checkout_id"],
                    "metadata[payment_id]": p.payment_id,
                },
            )
            assert late.json()["status"] == "succeeded", late.text
        await eventually(lambda: _payment_is(p, "refunded"), timeout=15)
        assert (await checkout_state(p))["status"] == "expired"
        assert await order_status(p) == "cancelled"
    assert [r["amount"] for r in await _stripe_refunds(stack, late.json()["id"])] == [5000]


async def test_buyer_still_authenticating_when_the_window_closes_can_finish_paying(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await purchase(stack)
    async with aclosing(p.buyer):
        started = await confirm(p, await _card_needing_3ds(stack))
        assert started.status_code == 202, started.text
        assert started.json()["status"] == "requires_action"
        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
        await eventually(lambda: _window_job_ran(stack, p), timeout=10)
        assert await order_status(p) == "awaiting_payment"

        async with _stripe_api(stack) as stripe_api:
            done = await stripe_api.post(
                f"/v1/payment_intents/{p.intent_id}/_authenticate",
                params={"client_secret": p.body["payment"]["client_secret"], "success": "true"},
            )
            assert done.json()["status"] == "succeeded", done.text
        await eventually(lambda: _status_is(p, "paid"), timeout=15)
    assert len(await paid_events(db, p.order_id)) == 1


async def test_window_waits_for_authentication_at_most_an_hour_then_cancels_the_intent(stack: Stack) -> None:
    p = await purchase(stack, stock=3, quantity=3)
    async with aclosing(p.buyer):
        assert (await confirm(p, await _card_needing_3ds(stack))).json()["status"] == "requires_action"
        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)
        await eventually(lambda: _window_job_ran(stack, p), timeout=10)
        assert await order_status(p) == "awaiting_payment"
        stack.clock.advance(3600)
        await eventually(lambda: _status_is(p, "cancelled"), timeout=10)
        assert (await checkout_state(p))["status"] == "expired"
    assert (await _stripe_intent(stack, p.intent_id))["status"] == "canceled"
    await eventually(lambda: _stock_is(stack, p, (3, 0)), timeout=10)


async def test_webhook_and_window_job_racing_on_a_paid_checkout_agree_it_is_paid(
    stack: Stack, db: asyncpg.Connection
) -> None:
    window = stack.infra.settings("orders").payment_window_s
    for delay in (0.0, 0.05, 0.1, 0.2):
        p = await purchase(stack)
        async with aclosing(p.buyer):
            assert (await confirm(p)).status_code == 202
            payload = succeeded_event(p)
            sig = signature(payload, stack.infra.webhook_secret)
            # The job becomes due now and the scheduler looks every 0.1 s: the webhooks land around it.
            stack.clock.advance(window + 1)
            await asyncio.sleep(delay)
            answers = await asyncio.gather(*(deliver(stack, payload, sig) for _ in range(3)))
            assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
            statuses = sorted(a.json()["status"] for a in answers)
            assert statuses in (["duplicate", "duplicate", "ignored"], ["duplicate", "duplicate", "paid"]), statuses
            await eventually(lambda p=p: _status_is(p, "paid"), timeout=10)
            state = await checkout_state(p)
            assert (state["status"], state["payment"]["status"]) == ("paid", "succeeded")
        assert len(await paid_events(db, p.order_id)) == 1
        assert await _stripe_refunds(stack, p.intent_id) == []


def _stripe_api(stack: Stack) -> httpx.AsyncClient:
    """Stripe (localstripe) as the buyer's app, or the account's owner, would call it directly."""
    return httpx.AsyncClient(base_url=stack.infra.stripe_base, auth=("sk_test_liveloop", ""))


async def _stripe_refunds(stack: Stack, intent_id: str) -> list[dict[str, Any]]:
    async with _stripe_api(stack) as stripe_api:
        response = await stripe_api.get("/v1/refunds", params={"payment_intent": intent_id})
    assert response.status_code == 200, response.text
    return response.json()["data"]


async def _refunded(stack: Stack, intent_id: str, amounts: list[int]) -> bool:
    return [r["amount"] for r in await _stripe_refunds(stack, intent_id)] == amounts


async def _stripe_intent(stack: Stack, intent_id: str) -> dict[str, Any]:
    async with _stripe_api(stack) as stripe_api:
        response = await stripe_api.get(f"/v1/payment_intents/{intent_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def _card_needing_3ds(stack: Stack) -> str:
    """A payment method whose confirmation waits for the buyer's 3-D Secure step (Stripe's test card)."""
    async with _stripe_api(stack) as stripe_api:
        response = await stripe_api.post(
            "/v1/payment_methods",
            data={
                "type": "card",
                "card[number]": "4000002500003155",
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        )
    assert response.status_code == 200, response.text
    return response.json()["id"]


def _window_job_ran(stack: Stack, p: Purchase) -> bool:
    """The payment-window job has run (at least once) for this purchase's checkout."""
    return any(
        s.name == "job payment_timeout" and (s.attributes or {}).get(names.CHECKOUT_ID) == p.body["checkout_id"]
        for s in stack.spans.get_finished_spans()
    )


async def _stripe_events_of(db: asyncpg.Connection, payment_id: str, at_least: int) -> bool:
    seen = await db.fetchval("SELECT count(*) FROM orders.stripe_events WHERE payment_id = $1", payment_id)
    return seen >= at_least


async def _status_is(p: Purchase, status: str) -> bool:
    return await order_status(p) == status


async def _payment_is(p: Purchase, status: str) -> bool:
    return (await checkout_state(p))["payment"]["status"] == status


async def _stock_is(stack: Stack, p: Purchase, expected: tuple[int, int]) -> bool:
    return await stock(stack, p) == expected


# --- when a neighbour is away -------------------------------------------------------------------


async def test_checkout_answers_503_when_shop_does_not_answer(stack: Stack) -> None:
    # A namespace of its own: no shop instance listens there.
    alone = await Stack(
        dataclasses.replace(stack.infra, namespace=f"{stack.infra.namespace}_{uuid.uuid4().hex[:6]}"), clock=stack.clock
    ).start("orders")
    try:
        buyer = alone.client("orders", stack.infra.token("buyer"))
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


async def test_checkout_survives_stripe_being_down_and_confirm_creates_the_intent_later(stack: Stack) -> None:
    # A second deployment on the same database whose Stripe is unreachable takes the checkout...
    # (It shares our clock too: both schedulers run the same stored deadlines.)
    elsewhere = dataclasses.replace(stack.infra, namespace=f"{stack.infra.namespace}_{uuid.uuid4().hex[:6]}")
    offline = await Stack(elsewhere, clock=stack.clock).start("shop", "orders", stripe_api_base="http://127.0.0.1:9")
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
    buyer = stack.client("orders", p.buyer.headers["Authorization"].removeprefix("Bearer "))
    p = dataclasses.replace(p, buyer=buyer)
    async with aclosing(buyer):
        confirmed = await confirm(p)
        assert confirmed.status_code == 202, confirmed.text
        assert confirmed.json()["status"] == "succeeded"
        await eventually(lambda: _status_is(p, "paid"), timeout=15)
