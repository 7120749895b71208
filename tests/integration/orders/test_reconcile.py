"""A payment Stripe took whose webhook never came (lost, or orders down when Stripe sent it) is paid by asking Stripe
(the `payment_reconcile` job, `reconcile_after_s` after the confirm), not at pay_by; and the webhook and the
reconcile racing pay it once: one payment, one OrderPaid per order, one stock commit.

localstripe sends each webhook once, a second after the event, and never retries it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx

from devstack.embedded import free_port
from libs.contracts import OrderPaid
from services.orders.use_cases.recovery import reconcile_payment
from tests.harness import Stack, eventually, register_webhook
from tests.integration.orders.support import Buyer, events_of, new_buyer, new_seller, stock, stripe_intent

SERVICES = ("shop", "orders")


@asynccontextmanager
async def webhooks_lost(stack: Stack) -> AsyncIterator[None]:
    """Stripe's webhooks for this module's orders go nowhere for the block (a URL nobody listens on)."""
    served = stack.apps["orders"]
    webhook_id = f"orders-{served.port}"
    await register_webhook(stack.infra, f"http://127.0.0.1:{free_port()}/stripe/webhook", webhook_id=webhook_id)
    try:
        yield
    finally:
        await register_webhook(stack.infra, f"{served.url}/stripe/webhook", webhook_id=webhook_id)


async def place(buyer: Buyer, sku_id: str, quantity: int = 1) -> dict[str, Any]:
    placed = await buyer.client.post(
        "/checkout",
        json={"items": [{"sku_id": sku_id, "quantity": quantity}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert placed.status_code == 201, placed.text
    return placed.json()


async def confirm(buyer: Buyer, checkout: dict[str, Any]) -> None:
    payment_id = checkout["payment"]["payment_id"]
    confirmed = await buyer.client.post(f"/payments/{payment_id}/confirm", json={"payment_method": "pm_card_visa"})
    assert confirmed.status_code == 202, confirmed.text
    assert confirmed.json()["status"] == "succeeded"


async def paid(buyer: Buyer, checkout_id: str, timeout: float) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        state = await buyer.client.get(f"/checkouts/{checkout_id}")
        assert state.status_code == 200, state.text
        body = state.json()
        return body if body["status"] == "paid" else None

    return await eventually(found, timeout=timeout, interval=0.1)


async def webhook_deliveries(db: asyncpg.Connection, payment_id: str) -> int:
    return await db.fetchval("SELECT count(*) FROM orders.stripe_events WHERE payment_id = $1", uuid.UUID(payment_id))


async def intent_id_of(db: asyncpg.Connection, payment_id: str) -> str:
    return await db.fetchval(
        "SELECT stripe_payment_intent_id FROM orders.payments WHERE payment_id = $1", uuid.UUID(payment_id)
    )


async def test_payment_whose_webhook_is_lost_is_paid_by_asking_stripe(stack: Stack, db: asyncpg.Connection) -> None:
    seller, buyer = await new_seller(stack, 1200, stock=5), new_buyer(stack)
    async with webhooks_lost(stack):
        checkout = await place(buyer, seller.sku_id, 2)
        started = time.monotonic()
        await confirm(buyer, checkout)
        done = await paid(buyer, checkout["checkout_id"], timeout=30)
        took = time.monotonic() - started
    settings = stack.apps["orders"].runtime.settings
    print(f"lost webhook: paid {took:.1f} s after the confirm (reconcile_after_s={settings.reconcile_after_s})")

    payment_id = checkout["payment"]["payment_id"]
    assert done["payment"]["status"] == "succeeded"
    assert [o["status"] for o in done["orders"]] == ["paid"]
    assert await webhook_deliveries(db, payment_id) == 0  # nothing came from Stripe: the reconcile paid it
    assert len(await events_of(db, OrderPaid.SUBJECT, done["orders"][0]["order_id"])) == 1
    await eventually(lambda: _stock_is(stack, seller, (3, 0)), timeout=15)


async def test_payment_made_just_before_orders_went_down_is_paid_soon_after_it_is_back(
    stack: Stack, db: asyncpg.Connection
) -> None:
    seller, buyer = await new_seller(stack, 900, stock=5), new_buyer(stack)
    checkout = await place(buyer, seller.sku_id)
    await confirm(buyer, checkout)
    # Stripe sends its webhook a second after the charge; orders is down by then, and stays down past the look.
    async with stack.down("orders"):
        await asyncio.sleep(7)
    back = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.url("orders"), headers=buyer.client.headers, timeout=30) as client:
        buyer = Buyer(buyer.buyer_id, client)
        done = await paid(buyer, checkout["checkout_id"], timeout=30)
    print(f"orders down 7 s over the webhook: paid {time.monotonic() - back:.1f} s after orders was back")

    assert done["payment"]["status"] == "succeeded"
    assert await webhook_deliveries(db, checkout["payment"]["payment_id"]) == 0
    assert len(await events_of(db, OrderPaid.SUBJECT, done["orders"][0]["order_id"])) == 1
    await eventually(lambda: _stock_is(stack, seller, (4, 0)), timeout=15)


async def test_webhook_and_reconcile_racing_pay_once(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 700, stock=20)
    buyers = [new_buyer(stack) for _ in range(6)]
    async with webhooks_lost(stack):
        checkouts = [await place(b, seller.sku_id, 2) for b in buyers]
        await asyncio.gather(*(confirm(b, c) for b, c in zip(buyers, checkouts, strict=True)))
    runtime = stack.apps["orders"].runtime

    async def reconcile(payment_id: str) -> None:
        async with runtime.db.transaction() as conn:
            await reconcile_payment(runtime, conn, payment_id)

    events = {}
    for c in checkouts:
        intent = await stripe_intent(stack, await intent_id_of(db, c["payment"]["payment_id"]))
        events[c["payment"]["payment_id"]] = succeeded_event(stack, intent.to_dict())

    async def webhook(payment_id: str) -> str:
        payload, signature = events[payment_id]
        async with stack.client("orders") as stripe_side:
            answer = await stripe_side.post("/stripe/webhook", content=payload, headers={"Stripe-Signature": signature})
        assert answer.status_code == 200, answer.text
        return answer.json()["status"]

    # Both at once for every payment, before the scheduled look (reconcile_after_s) comes due.
    answers = await asyncio.gather(
        *(step for payment_id in events for step in (webhook(payment_id), reconcile(payment_id)))
    )
    assert set(answers) - {None} <= {"paid", "ignored"}

    for b, c in zip(buyers, checkouts, strict=True):
        done = await paid(b, c["checkout_id"], timeout=10)
        assert done["payment"]["status"] == "succeeded"
        assert len(await events_of(db, OrderPaid.SUBJECT, done["orders"][0]["order_id"])) == 1
        intent = await stripe_intent(stack, await intent_id_of(db, c["payment"]["payment_id"]))
        assert intent.status == "succeeded"
    await eventually(lambda: _stock_is(stack, seller, (20 - 2 * len(buyers), 0)), timeout=15)
    committed = await db.fetchval(
        "SELECT count(*) FROM shop.outbox WHERE subject = 'shop.stock.committed.v1'"
        " AND convert_from(payload, 'UTF8')::jsonb ->> 'checkout_id' = ANY($1::text[])",
        [c["checkout_id"] for c in checkouts],
    )
    assert committed == len(checkouts)


def succeeded_event(stack: Stack, intent: dict[str, Any]) -> tuple[bytes, str]:
    """`payment_intent.succeeded` for the intent, signed as Stripe signs webhooks: (payload, Stripe-Signature)."""
    payload = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "object": "event",
            "type": "payment_intent.succeeded",
            "data": {"object": intent},
        }
    ).encode()
    at = int(time.time())
    mac = hmac.new(stack.infra.webhook_secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={at},v1={mac}"


async def _stock_is(stack: Stack, seller: Any, expected: tuple[int, int]) -> bool:
    return await stock(stack, seller, seller.sku_id) == expected
