"""What the orders tests share: a merchant selling in shop, a buyer of orders, checkouts, stock, outbox, consumer
and Stripe reads."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import stripe

from tests.harness import Stack, eventually, onboard_merchant


@dataclass
class Seller:
    """A merchant onboarded in shop, with one product of one SKU per price."""

    merchant_id: str
    token: str
    product_id: str
    sku_ids: list[str]

    @property
    def sku_id(self) -> str:
        return self.sku_ids[0]


@dataclass
class Buyer:
    buyer_id: str
    client: httpx.AsyncClient


async def new_seller(stack: Stack, *prices: int, currency: str = "USD", stock: int = 20) -> Seller:
    """A merchant with one product whose SKUs have these prices, `stock` of each."""
    return await seller_with_skus(stack, *((price, stock) for price in prices), currency=currency)


async def seller_with_skus(stack: Stack, *skus: tuple[int, int], currency: str = "USD") -> Seller:
    """A merchant with one product whose SKUs have these (price_minor, stock)."""
    merchant_id, token = await onboard_merchant(stack, currency=currency)
    body = {
        "title": "Oolong tea",
        "description": "Roasted",
        "skus": [
            {"name": f"size {n}", "price_minor": price, "currency": currency, "stock": stock}
            for n, (price, stock) in enumerate(skus or ((1000, 10),))
        ],
    }
    async with stack.client("shop", token) as seller:
        product = await seller.post("/seller/products", json=body)
    assert product.status_code == 201, product.text
    found = product.json()
    return Seller(merchant_id, token, found["product_id"], [s["sku_id"] for s in found["skus"]])


async def stock(stack: Stack, seller: Seller, sku_id: str) -> tuple[int, int]:
    """(on hand, reserved) of a SKU, as its merchant sees it."""
    async with stack.client("shop", seller.token) as client:
        response = await client.get(f"/seller/products/{seller.product_id}")
    assert response.status_code == 200, response.text
    sku = next(s for s in response.json()["skus"] if s["sku_id"] == sku_id)
    return sku["stock_on_hand"], sku["stock_reserved"]


def new_buyer(stack: Stack) -> Buyer:
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return Buyer(buyer_id, stack.client("orders", stack.infra.token("buyer", sub=buyer_id)))


def buyer(stack: Stack) -> tuple[str, httpx.AsyncClient]:
    """A fresh buyer's id and an orders client of theirs."""
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return buyer_id, stack.client("orders", stack.infra.token("buyer", sub=buyer_id))


async def checkout(client: httpx.AsyncClient, items: list[dict[str, Any]], key: str | None = None) -> httpx.Response:
    return await client.post("/checkout", json={"items": items}, headers={"Idempotency-Key": key or str(uuid.uuid4())})


async def pay_checkout(
    stack: Stack, buyer: Buyer | httpx.AsyncClient, items: list[dict[str, Any]], *, coupon_ids: list[str] | None = None
) -> dict[str, Any]:
    """Check `items` out as `buyer` (with these coupons), pay with Stripe's test Visa card, and wait until the
    checkout is paid: its JSON."""
    client = buyer.client if isinstance(buyer, Buyer) else buyer
    body: dict[str, Any] = {"items": items} | ({"coupon_ids": coupon_ids} if coupon_ids else {})
    placed = await client.post("/checkout", json=body, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert placed.status_code == 201, placed.text
    body = placed.json()
    payment_id = body["payment"]["payment_id"]
    confirmed = await client.post(f"/payments/{payment_id}/confirm", json={"payment_method": "pm_card_visa"})
    assert confirmed.status_code == 202, confirmed.text

    async def paid() -> dict[str, Any] | None:
        state = await client.get(f"/checkouts/{body['checkout_id']}")
        assert state.status_code == 200, state.text
        found = state.json()
        return found if found["status"] == "paid" and all(o["status"] == "paid" for o in found["orders"]) else None

    return await eventually(paid, timeout=20)


async def paid_order_of(stack: Stack, seller: Seller, buyer: Buyer | httpx.AsyncClient, qty: int = 1) -> dict[str, Any]:
    """`qty` of the seller's first SKU, checked out and paid by `buyer`: the paid order's JSON as its buyer reads it."""
    client = buyer.client if isinstance(buyer, Buyer) else buyer
    paid = await pay_checkout(stack, client, [{"sku_id": seller.sku_id, "quantity": qty}])
    order = await client.get(f"/orders/{paid['orders'][0]['order_id']}")
    assert order.status_code == 200, order.text
    return order.json()


async def events_of(db: asyncpg.Connection, subject: str, order_id: str) -> list[dict[str, Any]]:
    """The events of this subject orders wrote about the order (its outbox)."""
    rows = await db.fetch(
        """SELECT convert_from(payload, 'UTF8') AS payload FROM orders.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'order_id' = $2""",
        subject,
        order_id,
    )
    return [json.loads(r["payload"]) for r in rows]


async def consumed_all(stack: Stack, durable: str) -> bool:
    """The consumer has applied (and acknowledged) everything published to live's stream so far."""
    bus = stack.apps["orders"].runtime.bus
    last = (await bus.js.stream_info(bus.stream("LIVE"))).state.last_seq
    info = await bus.js.consumer_info(bus.stream("LIVE"), durable)
    return not (info.num_pending or info.num_ack_pending) and info.delivered.stream_seq >= last


def intent_id_of(client_secret: str) -> str:
    # Stripe's client secret is "<intent id>_secret_<random>".
    return client_secret.split("_secret_")[0]


async def stripe_intent(stack: Stack, intent_id: str) -> stripe.PaymentIntent:
    """A PaymentIntent as the account's owner reads it from Stripe (localstripe)."""
    http = stripe.HTTPXClient()
    try:
        client = stripe.StripeClient(
            "sk_test_liveloop", base_addresses={"api": stack.infra.stripe_base}, http_client=http
        )
        return await client.v1.payment_intents.retrieve_async(intent_id)
    finally:
        await http.close_async()


def stripe_api(stack: Stack) -> httpx.AsyncClient:
    """Stripe (localstripe) as the account's owner calls it directly."""
    return httpx.AsyncClient(base_url=stack.infra.stripe_base, auth=("sk_test_liveloop", ""))


async def intents_of_checkout(stack: Stack, checkout_id: str) -> dict[str, str]:
    """Every PaymentIntent Stripe (localstripe) holds for this checkout: id -> status."""
    found: dict[str, str] = {}
    after: str | None = None
    async with stripe_api(stack) as api:
        while True:
            params = {"limit": "100", **({"starting_after": after} if after else {})}
            page = await api.get("/v1/payment_intents", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for intent in body["data"]:
                if intent["metadata"].get("checkout_id") == checkout_id:
                    found[intent["id"]] = intent["status"]
            if not body["has_more"] or not body["data"]:
                return found
            after = body["data"][-1]["id"]
