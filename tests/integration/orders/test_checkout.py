"""Orders checkout over real HTTP, Postgres, NATS (shop answers the reservation) and localstripe."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from libs.auth import mint_token
from libs.telemetry import names
from tests.harness import Stack, assert_problem, eventually
from tests.integration.orders.support import Seller, buyer, checkout, seller_with_skus, stock

SERVICES = ("shop", "orders")


def counted(metrics: InMemoryMetricReader, name: str) -> int:
    """The running total of one of orders' counters."""
    data = metrics.get_metrics_data()
    return sum(
        point.value
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    )


async def my_orders(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/orders", params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- the happy path -----------------------------------------------------------------------------


async def test_checkout_reserves_stock_and_opens_an_order_priced_by_shop(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1250, 5))
    sku = seller.sku_ids[0]
    buyer_id, client = buyer(stack)
    async with client:
        # Shop's price is the one charged (a price sent by the client is refused: test_orders_input.py).
        response = await checkout(client, [{"sku_id": sku, "quantity": 2, "room_id": "room-7"}])
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "awaiting_payment"
        assert (body["amount_minor"], body["currency"]) == (2500, "USD")
        payment = body["payment"]
        assert (payment["amount_minor"], payment["currency"], payment["status"]) == (2500, "USD", "requires_payment")
        assert payment["client_secret"].startswith("pi_")
        (order,) = body["orders"]
        assert (order["merchant_id"], order["status"], order["amount_minor"]) == (
            seller.merchant_id,
            "awaiting_payment",
            2500,
        )
        (line,) = order["lines"]
        assert line["sku_id"] == sku
        assert (line["quantity"], line["unit_price_minor"], line["amount_minor"], line["room_id"]) == (
            2,
            1250,
            2500,
            "room-7",
        )
        assert await stock(stack, seller, sku) == (5, 2)

        again = await client.get(f"/checkouts/{body['checkout_id']}")
        assert again.status_code == 200, again.text
        assert again.json()["orders"][0]["order_id"] == order["order_id"]
        assert again.json()["payment"]["payment_id"] == payment["payment_id"]

        detail = await client.get(f"/orders/{order['order_id']}")
        assert detail.status_code == 200, detail.text
        seen = detail.json()
        assert (seen["buyer_id"], seen["checkout_id"], seen["status"]) == (
            buyer_id,
            body["checkout_id"],
            "awaiting_payment",
        )
        assert seen["paid_at"] is None
        assert seen["cancelled_at"] is None
        assert [o["order_id"] for o in await my_orders(client)] == [order["order_id"]]


async def test_marketplace_cart_makes_one_order_per_merchant_and_one_payment(stack: Stack) -> None:
    tea, cups = await seller_with_skus(stack, (1000, 5)), await seller_with_skus(stack, (450, 8), (300, 8))
    _, client = buyer(stack)
    async with client:
        response = await checkout(
            client,
            [
                {"sku_id": tea.sku_ids[0], "quantity": 1},
                {"sku_id": cups.sku_ids[0], "quantity": 2},
                {"sku_id": cups.sku_ids[1], "quantity": 1},
            ],
        )
        assert response.status_code == 201, response.text
        body = response.json()
        by_merchant = {o["merchant_id"]: o for o in body["orders"]}
        assert set(by_merchant) == {tea.merchant_id, cups.merchant_id}
        assert by_merchant[tea.merchant_id]["amount_minor"] == 1000
        assert by_merchant[cups.merchant_id]["amount_minor"] == 2 * 450 + 300
        assert len(by_merchant[cups.merchant_id]["lines"]) == 2
        assert body["payment"]["amount_minor"] == body["amount_minor"] == 2200
        assert len(await my_orders(client)) == 2

    tea_order, cups_order = by_merchant[tea.merchant_id]["order_id"], by_merchant[cups.merchant_id]["order_id"]
    async with stack.client("orders", tea.token) as tea_seller, stack.client("orders", cups.token) as cups_seller:
        assert [o["order_id"] for o in (await tea_seller.get("/seller/orders")).json()["items"]] == [tea_order]
        assert [o["order_id"] for o in (await cups_seller.get("/seller/orders")).json()["items"]] == [cups_order]
        own = await tea_seller.get(f"/seller/orders/{tea_order}")
        assert own.status_code == 200
        assert own.json()["amount_minor"] == 1000
        assert_problem(await tea_seller.get(f"/seller/orders/{cups_order}"), 404, "not-found")
        assert_problem(await cups_seller.get(f"/seller/orders/{tea_order}"), 404, "not-found")


# --- refusals change nothing --------------------------------------------------------------------


async def test_checkout_over_stock_is_refused_and_writes_nothing(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5), (1000, 1))
    _, client = buyer(stack)
    async with client:
        response = await checkout(
            client, [{"sku_id": seller.sku_ids[0], "quantity": 2}, {"sku_id": seller.sku_ids[1], "quantity": 2}]
        )
        assert_problem(response, 409, "insufficient-stock", "items[1].quantity")
        assert await my_orders(client) == []
    assert await stock(stack, seller, seller.sku_ids[0]) == (5, 0)
    assert await stock(stack, seller, seller.sku_ids[1]) == (1, 0)


async def test_unknown_sku_is_refused_naming_the_item(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    _, client = buyer(stack)
    async with client:
        response = await checkout(
            client, [{"sku_id": seller.sku_ids[0], "quantity": 1}, {"sku_id": str(uuid.uuid4()), "quantity": 1}]
        )
        assert_problem(response, 400, "unknown-sku", "items[1].sku_id")
        assert await my_orders(client) == []
    assert await stock(stack, seller, seller.sku_ids[0]) == (5, 0)


async def test_cart_in_two_currencies_is_refused_and_holds_no_stock(stack: Stack) -> None:
    dollars, euros = await seller_with_skus(stack, (1000, 5)), await seller_with_skus(stack, (900, 5), currency="EUR")
    key = str(uuid.uuid4())
    _, client = buyer(stack)
    async with client:
        mixed = [{"sku_id": dollars.sku_ids[0], "quantity": 1}, {"sku_id": euros.sku_ids[0], "quantity": 1}]
        assert_problem(await checkout(client, mixed, key), 422, "mixed-currency", "items[1].sku_id")
        assert await my_orders(client) == []
        assert await stock(stack, dollars, dollars.sku_ids[0]) == (5, 0)
        assert await stock(stack, euros, euros.sku_ids[0]) == (5, 0)
        # A refused request binds nothing: the buyer fixes the cart and retries with the same key.
        retried = await checkout(client, mixed[:1], key)
        assert retried.status_code == 201, retried.text
        assert len(await my_orders(client)) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [{"sku_id": "SKU", "quantity": 0}]}, "items[0].quantity"),
        ({"items": [{"sku_id": "SKU", "quantity": -3}]}, "items[0].quantity"),
        ({"items": [{"sku_id": "SKU", "quantity": 1000}]}, "items[0].quantity"),
        ({"items": [{"sku_id": "SKU", "quantity": "two"}]}, "items[0].quantity"),
        ({"items": [{"sku_id": "SKU", "quantity": 1.5}]}, "items[0].quantity"),
        ({"items": [{"sku_id": "SKU"}]}, "items[0].quantity"),
        ({"items": [{"sku_id": "not-a-uuid", "quantity": 1}]}, "items[0].sku_id"),
        ({"items": [{"sku_id": 42, "quantity": 1}]}, "items[0].sku_id"),
        ({"items": [{"sku_id": "SKU", "quantity": 1, "room_id": 7}]}, "items[0].room_id"),
        ({"items": []}, "items"),
        ({"items": "SKU"}, "items"),
        ({}, "items"),
        ({"items": [{"sku_id": "SKU", "quantity": 1}] * 51}, "items"),
    ],
)
async def test_invalid_cart_is_refused_naming_the_field_and_writes_nothing(
    stack: Stack, body: dict[str, Any], field: str
) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    sku = seller.sku_ids[0]
    payload = _substitute(body, sku)
    _, client = buyer(stack)
    async with client:
        response = await client.post("/checkout", json=payload, headers={"Idempotency-Key": str(uuid.uuid4())})
        assert_problem(response, 400, "validation-failed", field)
        assert await my_orders(client) == []
    assert await stock(stack, seller, sku) == (5, 0)


def _substitute(value: Any, sku: str) -> Any:
    if value == "SKU":
        return sku
    if isinstance(value, dict):
        return {k: _substitute(v, sku) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, sku) for v in value]
    return value


async def test_malformed_json_is_refused(stack: Stack) -> None:
    _, client = buyer(stack)
    async with client:
        response = await client.post(
            "/checkout",
            content=b'{"items": [{"sku_id": ',
            headers={"Idempotency-Key": str(uuid.uuid4()), "Content-Type": "application/json"},
        )
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert await my_orders(client) == []


async def test_checkout_without_idempotency_key_is_refused(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    _, client = buyer(stack)
    async with client:
        response = await client.post("/checkout", json={"items": [{"sku_id": seller.sku_ids[0], "quantity": 1}]})
        assert_problem(response, 400, "idempotency-key-required", "Idempotency-Key")
        assert await my_orders(client) == []
    assert await stock(stack, seller, seller.sku_ids[0]) == (5, 0)


# --- retries ------------------------------------------------------------------------------------


async def test_retry_with_the_same_key_answers_the_same_and_orders_once(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    items = [{"sku_id": seller.sku_ids[0], "quantity": 2}]
    key = str(uuid.uuid4())
    _, client = buyer(stack)
    async with client:
        first = await checkout(client, items, key)
        assert first.status_code == 201, first.text
        second = await checkout(client, items, key)
        assert second.status_code == 201, second.text
        assert second.json() == first.json()
        assert len(await my_orders(client)) == 1
    assert await stock(stack, seller, seller.sku_ids[0]) == (5, 2)


async def test_concurrent_retries_of_one_checkout_make_one_order(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 20))
    items = [{"sku_id": seller.sku_ids[0], "quantity": 3}]
    key = str(uuid.uuid4())
    _, client = buyer(stack)
    async with client:
        answers = await asyncio.gather(*(checkout(client, items, key) for _ in range(6)))
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
        assert len({a.json()["checkout_id"] for a in answers}) == 1
        assert len({a.json()["payment"]["client_secret"] for a in answers}) == 1
        assert len(await my_orders(client)) == 1
    assert await stock(stack, seller, seller.sku_ids[0]) == (20, 3)


async def test_client_secret_stays_out_of_the_logs_even_at_debug_level(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    _, client = buyer(stack)
    with caplog.at_level(logging.DEBUG):
        async with client:
            placed = await checkout(client, [{"sku_id": seller.sku_ids[0], "quantity": 1}])
    secret = placed.json()["payment"]["client_secret"]
    assert secret
    assert caplog.records, "nothing was logged at all: the check below would prove nothing"
    assert [r.name for r in caplog.records if secret in r.getMessage()] == []


async def test_concurrent_retries_count_the_placed_order_once(
    stack: Stack,
) -> None:
    seller = await seller_with_skus(stack, (1000, 20))
    items = [{"sku_id": seller.sku_ids[0], "quantity": 1}]
    key = str(uuid.uuid4())
    before = counted(stack.metrics["orders"], names.ORDERS_PLACED)
    _, client = buyer(stack)
    async with client:
        answers = await asyncio.gather(*(checkout(client, items, key) for _ in range(8)))
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
        assert len(await my_orders(client)) == 1
        # A plain retry later is no new order either.
        assert (await checkout(client, items, key)).status_code == 201
    assert counted(stack.metrics["orders"], names.ORDERS_PLACED) - before == 1


async def test_same_key_with_a_different_cart_is_refused(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    key = str(uuid.uuid4())
    _, client = buyer(stack)
    async with client:
        first = await checkout(client, [{"sku_id": seller.sku_ids[0], "quantity": 1}], key)
        assert first.status_code == 201, first.text
        other = await checkout(client, [{"sku_id": seller.sku_ids[0], "quantity": 3}], key)
        assert_problem(other, 422, "idempotency-key-reused", "Idempotency-Key")
        assert len(await my_orders(client)) == 1
    assert await stock(stack, seller, seller.sku_ids[0]) == (5, 1)


# --- who sees what ------------------------------------------------------------------------------


async def test_buyer_cannot_see_another_buyers_order_checkout_or_payment(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    _, alice = buyer(stack)
    _, bob = buyer(stack)
    async with alice, bob:
        placed = (await checkout(alice, [{"sku_id": seller.sku_ids[0], "quantity": 1}])).json()
        order_id = placed["orders"][0]["order_id"]
        assert_problem(await bob.get(f"/orders/{order_id}"), 404, "not-found")
        assert_problem(await bob.get(f"/checkouts/{placed['checkout_id']}"), 404, "not-found")
        confirm = await bob.post(
            f"/payments/{placed['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert_problem(confirm, 404, "not-found")
        assert await my_orders(bob) == []
        assert_problem(await bob.get(f"/orders/{uuid.uuid4()}"), 404, "not-found")
        assert_problem(await bob.get("/orders/not-an-id"), 404, "not-found")
        assert (await alice.get(f"/orders/{order_id}")).json()["status"] == "awaiting_payment"


async def test_orders_list_filters_by_status_and_pages_newest_first(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 10))
    _, client = buyer(stack)
    async with client:
        placed = []
        for _ in range(3):
            response = await checkout(client, [{"sku_id": seller.sku_ids[0], "quantity": 1}])
            placed.append(response.json()["orders"][0]["order_id"])
        first = await client.get("/orders", params={"limit": 2})
        page = first.json()
        assert [o["order_id"] for o in page["items"]] == placed[::-1][:2]
        rest = (await client.get("/orders", params={"limit": 2, "cursor": page["next_cursor"]})).json()
        assert [o["order_id"] for o in rest["items"]] == placed[:1]
        assert rest["next_cursor"] is None
        assert len(await my_orders(client, status="awaiting_payment")) == 3
        assert await my_orders(client, status="paid") == []
        assert_problem(await client.get("/orders", params={"status": "lost"}), 400, "invalid-status", "status")
        assert_problem(await client.get("/orders", params={"cursor": "garbage"}), 400, "invalid-cursor", "cursor")
        assert (await client.get("/orders", params={"limit": 0})).status_code == 400


async def test_who_may_call_checkout(stack: Stack) -> None:
    infra = stack.infra
    body = {"items": [{"sku_id": str(uuid.uuid4()), "quantity": 1}]}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    async with stack.client("orders") as anonymous:
        assert_problem(await anonymous.post("/checkout", json=body, headers=headers), 401, "unauthorized")
        assert_problem(await anonymous.get("/orders"), 401, "unauthorized")
        assert_problem(await anonymous.get("/seller/orders"), 401, "unauthorized")
    expired = mint_token(sub="buyer-late", role="buyer", secret=infra.jwt_secret, ttl_s=-10)
    async with stack.client("orders", expired) as late:
        assert_problem(await late.post("/checkout", json=body, headers=headers), 401, "unauthorized")
    forged = mint_token(sub="buyer-forged", role="buyer", secret="not-the-secret-but-long-enough-for-hs256")
    async with stack.client("orders", forged) as forger:
        assert_problem(await forger.get("/orders"), 401, "unauthorized")
    async with stack.client("orders", infra.token("merchant", merchant_id=str(uuid.uuid4()))) as merchant:
        assert_problem(await merchant.post("/checkout", json=body, headers=headers), 403, "forbidden")
        assert_problem(await merchant.get("/orders"), 403, "forbidden")
    async with stack.client("orders", infra.token("buyer")) as shopper:
        assert_problem(await shopper.get("/seller/orders"), 403, "forbidden")


# --- the payment window -------------------------------------------------------------------------


async def test_unpaid_checkout_is_cancelled_when_the_window_closes_and_stock_goes_back(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    sku = seller.sku_ids[0]
    _, client = buyer(stack)
    async with client:
        placed = (await checkout(client, [{"sku_id": sku, "quantity": 3}])).json()
        order_id = placed["orders"][0]["order_id"]
        assert await stock(stack, seller, sku) == (5, 3)

        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)

        async def cancelled() -> dict[str, Any] | None:
            order = (await client.get(f"/orders/{order_id}")).json()
            return order if order["status"] == "cancelled" else None

        order = await eventually(cancelled, timeout=10)
        assert order["cancel_reason"] == "payment_timeout"
        assert order["cancelled_at"] is not None
        assert (await client.get(f"/checkouts/{placed['checkout_id']}")).json()["status"] == "expired"
        late = await client.post(
            f"/payments/{placed['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert_problem(late, 409, "payment-window-closed")
    await eventually(lambda: _stock_is(stack, seller, sku, (5, 0)), timeout=10)
    async with stack.client("orders", seller.token) as seller_client:
        assert (await seller_client.get(f"/seller/orders/{order_id}")).json()["status"] == "cancelled"


async def test_replaying_an_expired_checkout_shows_it_expired_and_hands_out_no_payment_secret(stack: Stack) -> None:
    seller = await seller_with_skus(stack, (1000, 5))
    items = [{"sku_id": seller.sku_ids[0], "quantity": 1}]
    key = str(uuid.uuid4())
    _, client = buyer(stack)
    async with client:
        placed = (await checkout(client, items, key)).json()
        assert placed["payment"]["client_secret"]
        stack.clock.advance(stack.infra.settings("orders").payment_window_s + 1)

        async def expired() -> bool:
            return (await client.get(f"/checkouts/{placed['checkout_id']}")).json()["status"] == "expired"

        await eventually(expired, timeout=10)
        replayed = await checkout(client, items, key)
        assert replayed.status_code == 201, replayed.text
        body = replayed.json()
        assert (body["checkout_id"], body["status"]) == (placed["checkout_id"], "expired")
        assert body["payment"]["client_secret"] is None
        assert [o["status"] for o in body["orders"]] == ["cancelled"]
        assert len(await my_orders(client)) == 1


async def _stock_is(stack: Stack, seller: Seller, sku: str, expected: tuple[int, int]) -> bool:
    return await stock(stack, seller, sku) == expected


async def test_retry_after_a_lost_answer_whose_hold_lapsed_is_told_the_checkout_expired(stack: Stack) -> None:
    """The first attempt reserved in shop but never got written here (timeout, crash); the hold then lapsed."""
    from datetime import timedelta

    from libs.contracts import RESERVE_STOCK, ReserveItem, ReserveStock, ReserveStockReply
    from libs.ids import derived_id

    seller = await seller_with_skus(stack, (1000, 3))
    sku = seller.sku_ids[0]
    buyer_id, client = buyer(stack)
    key = str(uuid.uuid4())
    lost = ReserveStock(
        checkout_id=derived_id(buyer_id, key),
        buyer_id=buyer_id,
        items=[ReserveItem(sku_id=sku, quantity=2)],
        hold_until=stack.clock.now() + timedelta(seconds=1),
    )
    first = await stack.apps["orders"].runtime.bus.request(RESERVE_STOCK, lost, ReserveStockReply)
    assert first.ok
    stack.clock.advance(2)
    await eventually(lambda: _stock_is(stack, seller, sku, (3, 0)), timeout=10)
    async with client:
        retried = await checkout(client, [{"sku_id": sku, "quantity": 2}], key)
        assert_problem(retried, 409, "checkout-expired", "Idempotency-Key")
        assert await my_orders(client) == []
        fresh = await checkout(client, [{"sku_id": sku, "quantity": 2}])
        assert fresh.status_code == 201, fresh.text
    assert await stock(stack, seller, sku) == (3, 2)
