"""Fulfilment over real HTTP, Postgres, NATS, shop and localstripe: shipments and the quantity ledger, delivery by the
merchant or the carrier's signed callback, the buyer's confirm-receipt and cancel after payment."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
import httpx

from libs.contracts import (
    CouponClaimed,
    OrderCancelledAfterPayment,
    OrderCompleted,
    OrderDelivered,
    OrderShipped,
    RefundRequested,
)
from tests.harness import Stack, assert_problem, eventually, publish
from tests.integration.orders.support import Buyer, Seller, events_of, new_buyer, new_seller, pay_checkout

SERVICES = ("shop", "orders")
CARRIER_SECRET = "carrier-secret-for-tests"
SETTINGS = {"checkout_burst": 100, "carrier_webhook_secret": CARRIER_SECRET}


@dataclass
class Paid:
    """A paid order of a fresh buyer from a fresh seller."""

    seller: Seller
    buyer: Buyer
    order: dict[str, Any]

    @property
    def order_id(self) -> str:
        return self.order["order_id"]


async def paid(stack: Stack, *quantities: int, coupon_ids: list[str] | None = None, buyer: Buyer | None = None) -> Paid:
    """A paid order of one line per quantity (line i: `quantities[i]` of the seller's SKU i)."""
    seller = await new_seller(stack, *(1000 + 500 * i for i in range(len(quantities))))
    buyer = buyer or new_buyer(stack)
    items = [{"sku_id": sku, "quantity": q} for sku, q in zip(seller.sku_ids, quantities, strict=True)]
    checkout = await pay_checkout(stack, buyer, items, coupon_ids=coupon_ids)
    return Paid(seller, buyer, await order(buyer, checkout["orders"][0]["order_id"]))


async def order(buyer: Buyer, order_id: str) -> dict[str, Any]:
    response = await buyer.client.get(f"/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def ship(
    stack: Stack,
    seller: Seller,
    order_id: str,
    lines: list[dict[str, int]] | None = None,
    *,
    tracking: str | None = None,
    key: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"carrier": "ups", "tracking_number": tracking or f"1Z{uuid.uuid4().hex[:16]}"}
    if lines is not None:
        body["lines"] = lines
    async with stack.client("orders", seller.token) as client:
        return await client.post(
            f"/seller/orders/{order_id}/shipments", json=body, headers={"Idempotency-Key": key} if key else {}
        )


async def shipped(stack: Stack, seller: Seller, order_id: str, lines: list[dict[str, int]] | None = None) -> dict:
    response = await ship(stack, seller, order_id, lines)
    assert response.status_code == 201, response.text
    return response.json()


async def mark_delivered(stack: Stack, seller: Seller, order_id: str, shipment_id: str) -> httpx.Response:
    async with stack.client("orders", seller.token) as client:
        return await client.post(f"/seller/orders/{order_id}/shipments/{shipment_id}/delivered")


def sign(payload: bytes, secret: str = CARRIER_SECRET, at: int | None = None) -> str:
    """The carrier's scheme: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<raw body>")."""
    t = int(time.time()) if at is None else at
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + payload, hashlib.sha256).hexdigest()}"


def carrier_event(tracking_number: str, *, event_id: str | None = None, carrier: str = "ups") -> bytes:
    return json.dumps(
        {
            "event_id": event_id or f"evt-{uuid.uuid4().hex}",
            "carrier": carrier,
            "tracking_number": tracking_number,
            "status": "delivered",
            "occurred_at": "2026-01-01T12:00:00Z",
        }
    ).encode()


async def call_carrier(stack: Stack, payload: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({"Liveloop-Carrier-Signature": signature} if signature else {})
    async with stack.client("orders") as carrier:
        return await carrier.post("/carrier/events", content=payload, headers=headers)


def ledgers(order: dict[str, Any]) -> list[dict[str, int]]:
    return [line["ledger"] for line in order["lines"]]


# --- shipping -------------------------------------------------------------------------------------------------------


async def test_shipping_part_then_the_rest_moves_the_ledger_and_the_status(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await paid(stack, 2, 1)
    async with aclosing(p.buyer.client):
        assert p.order["status"] == "paid"
        assert p.order["ship_by"] is not None
        assert p.order["late"] is False
        assert [line["line_no"] for line in p.order["lines"]] == [0, 1]
        assert ledgers(p.order)[0] | {} == {
            "ordered": 2,
            "shipped": 0,
            "delivered": 0,
            "cancelled": 0,
            "refund_requested": 0,
            "refunded": 0,
            "returned": 0,
            "restocked": 0,
            "to_ship": 2,
            "refundable": 0,
            "returnable": 0,
        }

        first = await shipped(stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 1}])
        assert first["status"] == "shipped"
        assert first["order_id"] == p.order_id
        assert first["lines"] == [{"line_no": 0, "sku_id": p.seller.sku_ids[0], "quantity": 1}]
        assert first["delivered_at"] is None
        now = await order(p.buyer, p.order_id)
        assert now["status"] == "partially_shipped"
        assert [(x["shipped"], x["to_ship"], x["refundable"], x["returnable"]) for x in ledgers(now)] == [
            (1, 1, 1, 1),
            (0, 1, 0, 0),
        ]

        # No lines: everything left to ship.
        rest = await shipped(stack, p.seller, p.order_id)
        assert rest["lines"] == [
            {"line_no": 0, "sku_id": p.seller.sku_ids[0], "quantity": 1},
            {"line_no": 1, "sku_id": p.seller.sku_ids[1], "quantity": 1},
        ]
        now = await order(p.buyer, p.order_id)
        assert now["status"] == "shipped"
        assert [(x["shipped"], x["to_ship"]) for x in ledgers(now)] == [(2, 0), (1, 0)]
        assert [s["shipment_id"] for s in now["shipments"]] == [first["shipment_id"], rest["shipment_id"]]

        # Buyer and merchant see the same shipments.
        mine = await p.buyer.client.get(f"/orders/{p.order_id}/shipments")
        assert mine.status_code == 200, mine.text
        async with stack.client("orders", p.seller.token) as seller:
            theirs = await seller.get(f"/seller/orders/{p.order_id}/shipments")
            by_status = await seller.get("/seller/orders", params={"status": "shipped"})
        assert mine.json() == theirs.json() == {"items": now["shipments"]}
        assert [o["order_id"] for o in by_status.json()["items"]] == [p.order_id]

    events = await events_of(db, OrderShipped.SUBJECT, p.order_id)
    assert sorted((e["shipment_id"], e["fully_shipped"]) for e in events) == sorted(
        [(first["shipment_id"], False), (rest["shipment_id"], True)]
    )
    assert all(e["merchant_id"] == p.seller.merchant_id and e["carrier"] == "ups" for e in events)


async def test_shipping_more_than_is_left_or_a_line_the_order_lacks_is_refused_naming_the_field(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await paid(stack, 2, 1)
    async with aclosing(p.buyer.client):
        too_many = await ship(
            stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 1}, {"line_no": 1, "quantity": 2}]
        )
        assert assert_problem(too_many, 422, "quantity-exceeds-unshipped", "lines[1].quantity")["to_ship"] == 1
        unknown = await ship(stack, p.seller, p.order_id, [{"line_no": 5, "quantity": 1}])
        assert_problem(unknown, 422, "unknown-line", "lines[0].line_no")
        twice = await ship(stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 1}, {"line_no": 0, "quantity": 1}])
        assert_problem(twice, 422, "duplicate-line", "lines[1].line_no")
        none = await ship(stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 0}])
        assert_problem(none, 400, field="lines[0].quantity")
        extra = await ship(stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 1, "sku_id": "x"}])
        assert_problem(extra, 400, field="lines[0].sku_id")

        now = await order(p.buyer, p.order_id)
        assert now["status"] == "paid"
        assert now["shipments"] == []
        assert [x["shipped"] for x in ledgers(now)] == [0, 0]
    assert await events_of(db, OrderShipped.SUBJECT, p.order_id) == []


async def test_another_merchants_or_buyers_order_is_not_found(stack: Stack) -> None:
    p = await paid(stack, 1)
    other = await new_seller(stack, 700)
    stranger = new_buyer(stack)
    async with aclosing(p.buyer.client), aclosing(stranger.client):
        assert_problem(await ship(stack, other, p.order_id), 404)
        assert_problem(await ship(stack, p.seller, str(uuid.uuid4())), 404)
        assert_problem(await ship(stack, p.seller, "not-an-id"), 404)
        async with stack.client("orders", other.token) as client:
            assert_problem(await client.get(f"/seller/orders/{p.order_id}/shipments"), 404)
        assert_problem(await stranger.client.get(f"/orders/{p.order_id}/shipments"), 404)
        assert_problem(await stranger.client.post(f"/orders/{p.order_id}/cancel"), 404)
        assert_problem(await stranger.client.post(f"/orders/{p.order_id}/confirm-receipt"), 404)
        sent = await shipped(stack, p.seller, p.order_id)
        assert_problem(await mark_delivered(stack, other, p.order_id, sent["shipment_id"]), 404)
        assert_problem(await mark_delivered(stack, p.seller, p.order_id, str(uuid.uuid4())), 404)
        assert (await order(p.buyer, p.order_id))["status"] == "shipped"


async def test_only_a_paid_order_with_units_left_ships_and_a_tracking_number_ships_once(stack: Stack) -> None:
    seller = await new_seller(stack, 1000)
    buyer = new_buyer(stack)
    async with aclosing(buyer.client):
        placed = await buyer.client.post(
            "/checkout",
            json={"items": [{"sku_id": seller.sku_id, "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        unpaid_id = placed.json()["orders"][0]["order_id"]
        refused = assert_problem(await ship(stack, seller, unpaid_id), 409, "order-not-shippable")
        assert refused["order_status"] == "awaiting_payment"

        p = await paid(stack, 1)
        sent = await shipped(stack, p.seller, p.order_id)
        again = assert_problem(await ship(stack, p.seller, p.order_id), 409, "order-not-shippable")
        assert again["order_status"] == "shipped"

        q = await paid(stack, 1)
        used = await ship(stack, q.seller, q.order_id, tracking=sent["tracking_number"])
        assert_problem(used, 409, "tracking-number-used", "tracking_number")
        assert (await order(q.buyer, q.order_id))["status"] == "paid"
        await p.buyer.client.aclose()
        await q.buyer.client.aclose()


async def test_a_shipment_retried_with_its_idempotency_key_ships_once(stack: Stack, db: asyncpg.Connection) -> None:
    p = await paid(stack, 3)
    key = str(uuid.uuid4())
    lines = [{"line_no": 0, "quantity": 1}]
    async with aclosing(p.buyer.client):
        answers = [await ship(stack, p.seller, p.order_id, lines, tracking="T-once", key=key) for _ in range(2)]
        answers += await asyncio.gather(
            *(ship(stack, p.seller, p.order_id, lines, tracking="T-once", key=key) for _ in range(3))
        )
        assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
        assert len({a.json()["shipment_id"] for a in answers}) == 1
        now = await order(p.buyer, p.order_id)
        assert ledgers(now)[0]["shipped"] == 1
        assert len(now["shipments"]) == 1
    assert len(await events_of(db, OrderShipped.SUBJECT, p.order_id)) == 1


# --- delivery -------------------------------------------------------------------------------------------------------


async def test_carrier_callback_delivers_once_and_refuses_what_is_not_signed(
    stack: Stack, db: asyncpg.Connection
) -> None:
    p = await paid(stack, 2)
    sent = await shipped(stack, p.seller, p.order_id)
    payload = carrier_event(sent["tracking_number"])
    async with aclosing(p.buyer.client):
        for signature in (
            sign(payload, "another-secret"),
            None,
            "t=abc,v1=zz",
            sign(payload, at=int(time.time()) - 1000),  # too old
            sign(payload, at=int(time.time()) + 1000),  # from the future
            sign(payload.replace(b"delivered", b"delivered "), CARRIER_SECRET),  # signs another body
        ):
            assert_problem(await call_carrier(stack, payload, signature), 400, "invalid-signature")
        still = await order(p.buyer, p.order_id)
        assert still["status"] == "shipped"
        assert still["shipments"][0]["status"] == "shipped"
        assert await db.fetchval("SELECT count(*) FROM orders.carrier_events") == 0

        good = sign(payload)
        delivered = await call_carrier(stack, payload, good)
        assert delivered.status_code == 200, delivered.text
        assert delivered.json() == {"status": "delivered"}
        now = await order(p.buyer, p.order_id)
        assert now["status"] == "delivered"
        assert now["shipments"][0]["status"] == "delivered"
        assert now["shipments"][0]["delivered_at"]
        assert ledgers(now)[0]["delivered"] == 2
        assert now["delivered_at"] is not None
        assert now["complete_by"] > now["delivered_at"]
        assert now["completion_paused"] is False

        replay = await call_carrier(stack, payload, good)
        assert replay.status_code == 200
        assert replay.json() == {"status": "duplicate"}
        assert await order(p.buyer, p.order_id) == now

        unknown = carrier_event(f"nobody-{uuid.uuid4().hex}")
        ignored = await call_carrier(stack, unknown, sign(unknown))
        assert ignored.status_code == 200
        assert ignored.json() == {"status": "ignored"}
    assert len(await events_of(db, OrderDelivered.SUBJECT, p.order_id)) == 1


async def test_order_is_delivered_once_every_shipment_is(stack: Stack, db: asyncpg.Connection) -> None:
    p = await paid(stack, 2)
    async with aclosing(p.buyer.client):
        first = await shipped(stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 1}])
        arrived = await mark_delivered(stack, p.seller, p.order_id, first["shipment_id"])
        assert arrived.status_code == 200, arrived.text
        assert arrived.json()["status"] == "delivered"
        # Half delivered, half not shipped: still waiting to ship.
        assert (await order(p.buyer, p.order_id))["status"] == "partially_shipped"
        second = await shipped(stack, p.seller, p.order_id)
        assert (await order(p.buyer, p.order_id))["status"] == "shipped"
        assert (await mark_delivered(stack, p.seller, p.order_id, second["shipment_id"])).status_code == 200
        now = await order(p.buyer, p.order_id)
        assert now["status"] == "delivered"
        assert ledgers(now)[0]["delivered"] == 2
        again = await mark_delivered(stack, p.seller, p.order_id, second["shipment_id"])
        assert again.status_code == 200
        assert again.json() == now["shipments"][1]
    assert len(await events_of(db, OrderDelivered.SUBJECT, p.order_id)) == 1


# --- completion by the buyer ----------------------------------------------------------------------------------------


async def test_buyer_confirming_receipt_completes_the_order_once(stack: Stack, db: asyncpg.Connection) -> None:
    p = await paid(stack, 1)
    async with aclosing(p.buyer.client):
        early = await p.buyer.client.post(f"/orders/{p.order_id}/confirm-receipt")
        assert assert_problem(early, 409, "order-not-completable")["order_status"] == "paid"
        await shipped(stack, p.seller, p.order_id)
        # Shipped, not yet reported delivered: the buyer has it, so it completes.
        done = await p.buyer.client.post(f"/orders/{p.order_id}/confirm-receipt")
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["completed_by"]) == ("completed", "buyer")
        assert body["completed_at"] is not None
        again = await p.buyer.client.post(f"/orders/{p.order_id}/confirm-receipt")
        assert again.status_code == 200
        assert again.json() == body
    completed = await events_of(db, OrderCompleted.SUBJECT, p.order_id)
    assert [e["by"] for e in completed] == ["buyer"]


# --- the buyer's cancel ---------------------------------------------------------------------------------------------


async def test_buyer_cancels_a_paid_order_before_it_ships_and_gets_the_money_and_coupon_back(
    stack: Stack, db: asyncpg.Connection
) -> None:
    buyer = new_buyer(stack)
    seller = await new_seller(stack, 1000, 1500)
    coupon = CouponClaimed(
        coupon_id=str(uuid.uuid4()),
        drop_id=str(uuid.uuid4()),
        room_id="room-fulfilment",
        merchant_id=seller.merchant_id,
        buyer_id=buyer.buyer_id,
        kind="amount_off",
        amount_off_minor=300,
        currency="USD",
        valid_until=stack.clock.now() + timedelta(days=30),
    )
    await publish(stack, coupon)
    await eventually(lambda: coupon_status(db, coupon.coupon_id), timeout=10)
    items = [{"sku_id": seller.sku_ids[0], "quantity": 2}, {"sku_id": seller.sku_ids[1], "quantity": 1}]
    checkout = await pay_checkout(stack, buyer, items, coupon_ids=[coupon.coupon_id])
    order_id = checkout["orders"][0]["order_id"]
    async with aclosing(buyer.client):
        before = await order(buyer, order_id)
        assert before["amount_minor"] == 3500 - 300
        assert before["coupon_id"] == coupon.coupon_id
        assert await coupon_status(db, coupon.coupon_id) == "used"

        cancelled = await buyer.client.post(f"/orders/{order_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        body = cancelled.json()
        assert (body["status"], body["cancel_reason"]) == ("cancelled", "buyer_cancelled")
        assert body["cancelled_at"] is not None
        assert [(x["cancelled"], x["to_ship"], x["refundable"]) for x in ledgers(body)] == [(2, 0, 0), (1, 0, 0)]
        assert [(r["origin"], r["amount_minor"]) for r in body["refunds"]] == [("cancel", 3200)]
        assert await coupon_status(db, coupon.coupon_id) == "available"

        # Nothing more to do with it.
        assert_problem(await buyer.client.post(f"/orders/{order_id}/cancel"), 409, "order-not-cancellable")
        assert_problem(await ship(stack, seller, order_id), 409, "order-not-shippable")

        # The money goes back through Stripe (localstripe) once.
        async def refunded() -> dict[str, Any] | None:
            now = await order(buyer, order_id)
            return now if now["refunded_minor"] == 3200 else None

        now = await eventually(refunded, timeout=20)
        assert now["refunds"][0]["status"] == "succeeded"

    [event] = await events_of(db, OrderCancelledAfterPayment.SUBJECT, order_id)
    assert (event["reason"], event["whole_order"]) == ("buyer_cancelled", True)
    assert event["grant_id"] == body["refunds"][0]["grant_id"]
    assert [(c["line_no"], c["sku_id"], c["quantity"]) for c in event["cancelled_lines"]] == [
        (0, seller.sku_ids[0], 2),
        (1, seller.sku_ids[1], 1),
    ]
    assert len(await events_of(db, RefundRequested.SUBJECT, order_id)) == 1


async def coupon_status(db: asyncpg.Connection, coupon_id: str) -> str | None:
    return await db.fetchval("SELECT status FROM orders.coupons WHERE coupon_id = $1", coupon_id)


async def test_cancel_of_a_shipping_order_is_refused_until_it_is_late(stack: Stack) -> None:
    p = await paid(stack, 2)
    async with aclosing(p.buyer.client):
        await shipped(stack, p.seller, p.order_id, [{"line_no": 0, "quantity": 1}])
        refused = assert_problem(await p.buyer.client.post(f"/orders/{p.order_id}/cancel"), 409, "already-shipping")
        assert refused["order_status"] == "partially_shipped"
        await shipped(stack, p.seller, p.order_id)
        assert_problem(await p.buyer.client.post(f"/orders/{p.order_id}/cancel"), 409, "nothing-to-cancel")
        now = await order(p.buyer, p.order_id)
        assert now["status"] == "shipped"
        assert [x["cancelled"] for x in ledgers(now)] == [0]


async def test_cancel_and_shipment_racing_have_one_winner(stack: Stack, db: asyncpg.Connection) -> None:
    for _ in range(3):
        p = await paid(stack, 2)
        async with aclosing(p.buyer.client):
            cancelled, sent = await asyncio.gather(
                p.buyer.client.post(f"/orders/{p.order_id}/cancel"), ship(stack, p.seller, p.order_id)
            )
            now = await order(p.buyer, p.order_id)
        assert sorted([cancelled.status_code, sent.status_code]) in ([200, 409], [201, 409]), (
            cancelled.text,
            sent.text,
        )
        cancel_events = await events_of(db, OrderCancelledAfterPayment.SUBJECT, p.order_id)
        ship_events = await events_of(db, OrderShipped.SUBJECT, p.order_id)
        if cancelled.status_code == 200:
            assert_problem(sent, 409, "order-not-shippable")
            assert now["status"] == "cancelled"
            assert now["shipments"] == []
            assert ledgers(now)[0] | {"cancelled": 2, "shipped": 0} == ledgers(now)[0]
            assert (len(cancel_events), len(ship_events), len(now["refunds"])) == (1, 0, 1)
        else:
            assert_problem(cancelled, 409, "nothing-to-cancel")
            assert now["status"] == "shipped"
            assert len(now["shipments"]) == 1
            assert ledgers(now)[0] | {"cancelled": 0, "shipped": 2} == ledgers(now)[0]
            assert (len(cancel_events), len(ship_events), len(now["refunds"])) == (0, 1, 0)
