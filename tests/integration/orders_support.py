"""What the orders tests share: a merchant selling in shop, a buyer of orders, problems, outbox and Stripe reads."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import stripe

from tests.harness import Stack

PROBLEM = "https://liveloop.dev/problems/"


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


async def new_seller(st: Stack, *prices: int, currency: str = "USD", stock: int = 20) -> Seller:
    """A merchant with one product whose SKUs have these prices, `stock` of each."""
    async with st.client("shop", st.infra.token("operator")) as op:
        made = await op.post("/merchants", json={"name": f"Shop {uuid.uuid4().hex[:6]}", "currency": currency})
    assert made.status_code == 201, made.text
    merchant_id = made.json()["merchant_id"]
    token = st.infra.token("merchant", merchant_id=merchant_id)
    skus = [{"name": f"size {n}", "price_minor": p, "currency": currency, "stock": stock} for n, p in enumerate(prices)]
    async with st.client("shop", token) as seller:
        product = await seller.post("/seller/products", json={"title": "Oolong", "skus": skus})
    assert product.status_code == 201, product.text
    body = product.json()
    return Seller(merchant_id, token, body["product_id"], [s["sku_id"] for s in body["skus"]])


def new_buyer(st: Stack) -> Buyer:
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return Buyer(buyer_id, st.client("orders", st.infra.token("buyer", sub=buyer_id)))


def assert_problem(response: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == PROBLEM + code, body
    if field is not None:
        assert body["field"] == field, body


async def events_of(db: asyncpg.Connection, subject: str, order_id: str) -> list[dict[str, Any]]:
    """The events of this subject orders wrote about the order (its outbox)."""
    rows = await db.fetch(
        """SELECT convert_from(payload, 'UTF8') AS payload FROM orders.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'order_id' = $2""",
        subject,
        order_id,
    )
    return [json.loads(r["payload"]) for r in rows]


def intent_id_of(client_secret: str) -> str:
    # Stripe's client secret is "<intent id>_secret_<random>".
    return client_secret.split("_secret_")[0]


async def stripe_intent(st: Stack, intent_id: str) -> stripe.PaymentIntent:
    """A PaymentIntent as the account's owner reads it from Stripe (localstripe)."""
    http = stripe.HTTPXClient()
    try:
        client = stripe.StripeClient("sk_test_liveloop", base_addresses={"api": st.infra.stripe_base}, http_client=http)
        return await client.v1.payment_intents.retrieve_async(intent_id)
    finally:
        await http.close_async()
