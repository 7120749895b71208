"""What aftersales' tests share: orders' events as orders would send them, a case opened, aftersales' outbox."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import msgspec

from libs.contracts import OrderDelivered, OrderLine, OrderPaid, OrderShipped, ShippedLine
from tests.harness import Stack, eventually, paid_order, publish


def lines(*quantities: int, product_id: str | None = None, sku_ids: list[str] | None = None) -> list[OrderLine]:
    """Order lines of these quantities at 10.00 each."""
    return [
        OrderLine(
            sku_id=(sku_ids[n] if sku_ids else str(uuid.uuid4())),
            product_id=product_id or str(uuid.uuid4()),
            title="Teapot",
            sku_name=f"Colour {n}",
            quantity=q,
            unit_price_minor=1000,
            amount_minor=1000 * q,
        )
        for n, q in enumerate(quantities)
    ]


def shipped(paid: OrderPaid, quantities: dict[int, int] | None = None, *, at: datetime | None = None) -> OrderShipped:
    """One shipment of `quantities` per line (all of every line by default)."""
    quantities = quantities if quantities is not None else {n: ln.quantity for n, ln in enumerate(paid.lines)}
    return OrderShipped(
        order_id=paid.order_id,
        checkout_id=paid.checkout_id,
        buyer_id=paid.buyer_id,
        merchant_id=paid.merchant_id,
        lines=paid.lines,
        shipment_id=str(uuid.uuid4()),
        carrier="ups",
        tracking_number=uuid.uuid4().hex,
        shipped_lines=[ShippedLine(line_no=n, sku_id=paid.lines[n].sku_id, quantity=q) for n, q in quantities.items()],
        fully_shipped=True,
        shipped_at=at or paid.paid_at,
    )


def delivered(paid: OrderPaid, at: datetime) -> OrderDelivered:
    return OrderDelivered(
        order_id=paid.order_id,
        checkout_id=paid.checkout_id,
        buyer_id=paid.buyer_id,
        merchant_id=paid.merchant_id,
        lines=paid.lines,
        delivered_at=at,
    )


async def known_order(stack: Stack, *quantities: int, shipped_units: dict[int, int] | None = None, **facts: Any):
    """A paid order aftersales has heard of, shipped (all of it by default): (the OrderPaid, buyer token, merchant
    token)."""
    merchant_id = facts.pop("merchant_id", str(uuid.uuid4()))
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    paid = paid_order(
        buyer_id=buyer_id,
        merchant_id=merchant_id,
        lines=facts.pop("lines", None) or lines(*(quantities or (2,))),
        **facts,
    )
    await publish(stack, paid)
    if shipped_units != {}:
        await publish(stack, shipped(paid, shipped_units))
    db = stack.apps["aftersales"].runtime.db

    async def known() -> bool:
        shipped_rows = await db.fetchval("SELECT count(*) FROM shipped_lines WHERE order_id = $1", paid.order_id)
        lines_known = await db.fetchval("SELECT count(*) FROM order_lines WHERE order_id = $1", paid.order_id)
        return lines_known == len(paid.lines) and (shipped_units == {} or shipped_rows > 0)

    await eventually(known)
    infra = stack.infra
    return paid, infra.token("buyer", sub=buyer_id), infra.token("merchant", merchant_id=merchant_id)


def case_body(paid: OrderPaid, kind: str = "refund_only", lines: list[dict] | None = None, **more: Any) -> dict:
    return {
        "order_id": paid.order_id,
        "kind": kind,
        "reason_code": "damaged",
        "description": "arrived broken",
        "evidence_urls": ["https://img.example/1.jpg"],
        "lines": lines if lines is not None else [{"line_no": 0, "quantity": 1}],
        **more,
    }


async def open_case(stack: Stack, buyer: str, body: dict, *, key: str | None = None) -> httpx.Response:
    async with stack.client("aftersales", buyer) as client:
        return await client.post("/cases", json=body, headers={"Idempotency-Key": key or uuid.uuid4().hex})


async def opened(stack: Stack, buyer: str, body: dict) -> dict:
    response = await open_case(stack, buyer, body)
    assert response.status_code == 201, response.text
    return response.json()


async def call(stack: Stack, token: str, path: str, json: dict | None = None) -> httpx.Response:
    async with stack.client("aftersales", token) as client:
        return await client.post(path, json=json) if json is not None else await client.post(path)


async def case_as(stack: Stack, token: str, path: str) -> dict:
    async with stack.client("aftersales", token) as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.json()


async def sent(db: asyncpg.Connection, subject: str, case_id: str) -> list[dict]:
    """The events aftersales wrote to its outbox with this subject about this case."""
    rows = await db.fetch("SELECT payload FROM aftersales.outbox WHERE subject = $1 ORDER BY seq", subject)
    return [e for e in (msgspec.json.decode(r["payload"]) for r in rows) if e.get("case_id") == case_id]
