"""The issue's story, over HTTP only, against real Postgres, NATS and localstripe: a buyer buys 3 units in a live room
with a coupon; the merchant ships and the carrier says delivered; the buyer returns 2; the merchant does nothing and
the case is approved at its deadline; the return travels back and is received; exactly one refund of exactly the
2 units' price less their share of the discount reaches Stripe; stock, ledger and room show it; the order completes
by itself once the case is closed and its paused clock has run out.

This module runs its own deployment: it moves the clock by days, which a shared one must not see.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest_asyncio

from libs.settings import DEV_CARRIER_SECRET
from libs.telemetry import names
from tests.e2e.flows import Shopfront, open_shopfront, room_stats, sku_stock
from tests.harness import PROBLEM, Stack, eventually, fresh_infra

PRICE = 2599
AMOUNT_OFF = 600  # a third of it per unit: 200
HOUR = 3600
DAY = 24 * HOUR


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(servers: tuple[str, str, str]) -> AsyncIterator[Stack]:
    async with fresh_infra(servers) as fresh:
        running = Stack(fresh)
        await running.start()
        try:
            yield running
        finally:
            await running.stop()


def carrier_signed(body: dict, secret: str = DEV_CARRIER_SECRET) -> tuple[bytes, dict[str, str]]:
    """A carrier callback as the carrier sends it: the raw body and its signature header."""
    raw = json.dumps(body).encode()
    t = int(time.time())
    digest = hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    return raw, {"Liveloop-Carrier-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


async def buy_three_with_a_coupon(stack: Stack, front: Shopfront) -> dict:
    """The buyer watches the room, claims the host's coupon and buys 3 units from the room with it; paid."""
    async with stack.client("live", front.host_token) as host:
        dropped = await host.post(
            f"/rooms/{front.room_id}/coupon-drops",
            json={
                "kind": "amount_off",
                "amount_off_minor": AMOUNT_OFF,
                "currency": "USD",
                "min_spend_minor": 2000,
                "per_buyer_limit": 1,
                "total": 10,
                "valid_until": (stack.clock.now() + timedelta(hours=1)).isoformat(),
            },
        )
        assert dropped.status_code == 201, dropped.text
    async with stack.client("live", front.buyer_token) as viewer:
        assert (await viewer.post(f"/rooms/{front.room_id}/join")).status_code in (200, 201)
        claimed = await viewer.post(f"/rooms/{front.room_id}/coupon-drops/{dropped.json()['drop_id']}/claim")
        assert claimed.status_code == 201, claimed.text
    coupon_id = claimed.json()["coupon_id"]

    async with stack.client("orders", front.buyer_token) as orders:

        async def checkout() -> httpx.Response | None:
            placed = await orders.post(
                "/checkout",
                json={
                    "items": [{"sku_id": front.sku_ids[0], "quantity": 3, "room_id": front.room_id}],
                    "coupon_ids": [coupon_id],
                },
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            # orders learns of the claim from live's event a moment later
            return None if placed.json().get("type") == PROBLEM + "coupon-not-found" else placed

        placed = await eventually(checkout, timeout=15, interval=0.2)
        assert placed.status_code == 201, placed.text
        (order,) = placed.json()["orders"]
        assert (order["subtotal_minor"], order["discount_minor"]) == (3 * PRICE, AMOUNT_OFF)
        confirmed = await orders.post(
            f"/payments/{placed.json()['payment']['payment_id']}/confirm", json={"payment_method": "pm_card_visa"}
        )
        assert confirmed.status_code == 202, confirmed.text

        async def paid() -> dict | None:
            current = (await orders.get(f"/orders/{order['order_id']}")).json()
            return current if current["status"] == "paid" else None

        paid_order = await eventually(paid, timeout=15)
    paid_order["intent_id"] = placed.json()["payment"]["client_secret"].split("_secret_")[0]
    return paid_order


async def stripe_refunds(stack: Stack, intent_id: str) -> list[dict]:
    """Every refund Stripe (localstripe) holds for the PaymentIntent."""
    async with httpx.AsyncClient(base_url=stack.infra.stripe_base, auth=("sk_test_liveloop", "")) as api:
        listed = await api.get("/v1/refunds", params={"payment_intent": intent_id, "limit": "100"})
    assert listed.status_code == 200, listed.text
    return listed.json()["data"]


async def test_a_return_of_two_of_three_units_bought_with_a_coupon_refunds_exactly_once(stack: Stack) -> None:
    front = await open_shopfront(stack, stock=10, price_minor=PRICE)
    sku_id = front.sku_ids[0]
    merchant = stack.client("orders", front.merchant_token)
    buyer_orders = stack.client("orders", front.buyer_token)
    buyer_cases = stack.client("aftersales", front.buyer_token)
    seller_cases = stack.client("aftersales", front.merchant_token)
    async with merchant, buyer_orders, buyer_cases, seller_cases:
        # 1. three units bought in the live room with the host's coupon, paid
        order = await buy_three_with_a_coupon(stack, front)
        order_id, intent_id = order["order_id"], order["intent_id"]
        (line,) = order["lines"]
        assert (line["quantity"], line["discount_minor"], line["room_id"]) == (3, AMOUNT_OFF, front.room_id)

        # shop commits the 3 units when it hears the order is paid
        async def committed() -> bool:
            return await sku_stock(stack, front, sku_id) == (10 - 3, 0)

        await eventually(committed, timeout=15)

        # 2. the merchant ships everything; the carrier's signed callback says delivered
        tracking = f"1Z{uuid.uuid4().hex[:16].upper()}"
        shipped = await merchant.post(
            f"/seller/orders/{order_id}/shipments", json={"carrier": "ups", "tracking_number": tracking}
        )
        assert shipped.status_code == 201, shipped.text
        raw, headers = carrier_signed(
            {
                "event_id": f"evt-{uuid.uuid4().hex}",
                "carrier": "ups",
                "tracking_number": tracking,
                "status": "delivered",
                "occurred_at": stack.clock.now().isoformat(),
            }
        )
        delivered = await merchant.post("/carrier/events", content=raw, headers=headers)
        assert delivered.status_code == 200, delivered.text
        order = (await buyer_orders.get(f"/orders/{order_id}")).json()
        assert order["status"] == "delivered", order

        # 3. the buyer asks to return 2 units (as soon as aftersales has heard of the shipment)
        async def open_case() -> httpx.Response | None:
            opened = await buyer_cases.post(
                "/cases",
                json={
                    "order_id": order_id,
                    "kind": "return_and_refund",
                    "reason_code": "not_as_described",
                    "description": "The linen is thinner than shown on stream",
                    "evidence_urls": ["https://example.com/photo-1.jpg"],
                    "lines": [{"line_no": 0, "quantity": 2}],
                },
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            return opened if opened.status_code == 201 else None

        case = (await eventually(open_case, timeout=15, interval=0.2)).json()
        case_id = case["case_id"]
        assert (case["status"], case["next_action"]) == ("requested", "merchant")

        # The open case stops the order's completion clock (once orders has heard of it)
        async def paused() -> bool:
            return (await buyer_orders.get(f"/orders/{order_id}")).json()["completion_paused"]

        await eventually(paused, timeout=15)

        # ...the merchant does nothing: at the deadline the case is approved by itself, and awaits the return
        stack.clock.advance(48 * HOUR + 60)

        async def awaiting_return() -> dict | None:
            current = (await buyer_cases.get(f"/cases/{case_id}")).json()
            return current if current["status"] == "awaiting_return" else None

        case = await eventually(awaiting_return, timeout=15)
        assert case["next_action"] == "buyer"

        # 4. the buyer sends the parcel back; the merchant confirms receipt (both units fit to sell again)
        sent = await buyer_cases.post(
            f"/cases/{case_id}/return-shipment", json={"carrier": "ups", "tracking_number": f"R{tracking}"}
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "return_in_transit"
        received = await seller_cases.post(f"/seller/cases/{case_id}/confirm-receipt", json={})
        assert received.status_code == 200, received.text

        async def refunded() -> dict | None:
            current = (await buyer_cases.get(f"/cases/{case_id}")).json()
            return current if current["status"] == "refunded" else None

        case = await eventually(refunded, timeout=20)

        # 5. Stripe holds one refund of exactly 2 x (unit price - the unit's share of the discount)
        expected = 2 * (PRICE - AMOUNT_OFF // 3)
        refunds = await stripe_refunds(stack, intent_id)
        assert [(r["amount"], r["status"]) for r in refunds] == [(expected, "succeeded")]
        assert case["refund_amount_minor"] == expected

        # 6. the returned units are back on hand
        async def restocked() -> bool:
            return await sku_stock(stack, front, sku_id) == (10 - 3 + 2, 0)

        await eventually(restocked, timeout=15)

        # 7. the order's ledger: 3 shipped, 2 returned, 2 refunded; one refund of that amount
        async def ledger_settled() -> dict | None:
            current = (await buyer_orders.get(f"/orders/{order_id}")).json()
            ledger = current["lines"][0]["ledger"]
            return current if ledger["returned"] == 2 and ledger["refunded"] == 2 else None

        order = await eventually(ledger_settled, timeout=15)
        ledger = order["lines"][0]["ledger"]
        assert (ledger["ordered"], ledger["shipped"], ledger["returned"], ledger["refunded"]) == (3, 3, 2, 2)
        assert ledger["refundable"] == 1
        assert [(r["amount_minor"], r["status"], r["case_id"]) for r in order["refunds"]] == [
            (expected, "succeeded", case_id)
        ]

        # 8. the room shows the refund, and what it kept
        async def room_refund() -> dict | None:
            stats = await room_stats(stack, front)
            return stats if stats["refunded_amount_minor"] == expected else None

        stats = await eventually(room_refund, timeout=15)
        assert (stats["refunds"], stats["refunded_orders"]) == (1, 1)
        assert stats["net_amount_minor"] == stats["paid_amount_minor"] - expected
        # ...and the room rides along in the refund's trace, from the grant to the event live counted it from
        refund_spans = [
            span
            for span in stack.spans.get_finished_spans()
            if "orders.refund.succeeded.v1" in span.name or "refund.succeeded" in str(span.attributes)
        ]
        assert refund_spans, "no span of the refund's event"
        assert {span.attributes.get(names.ROOM_ID) for span in refund_spans} == {front.room_id}

        # 9. the case is closed, so the order's completion clock runs again (once orders has heard): it was
        # delivered, then paused for the case; it completes by itself only once the rest of its 7 days has passed
        assert order["status"] == "delivered"

        async def running_again() -> bool:
            return not (await buyer_orders.get(f"/orders/{order_id}")).json()["completion_paused"]

        await eventually(running_again, timeout=15)
        stack.clock.advance(6 * DAY)
        still = (await buyer_orders.get(f"/orders/{order_id}")).json()
        assert still["status"] == "delivered", still
        stack.clock.advance(1 * DAY + 60)

        async def completed() -> dict | None:
            current = (await buyer_orders.get(f"/orders/{order_id}")).json()
            return current if current["status"] == "completed" else None

        done = await eventually(completed, timeout=15)
        assert done["completed_by"] == "auto"
