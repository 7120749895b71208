"""A flash sale over HTTP only: the host opens it, buyers tap buy, one pays, the rest sells out, everyone sees it."""

from __future__ import annotations

import uuid

from opentelemetry.sdk.trace import ReadableSpan

from libs.contracts import FlashSaleAdmitted
from libs.telemetry import names
from tests.e2e.flows import open_shopfront, room_stats, sku_stock
from tests.harness import PROBLEM, Stack, eventually

LIST_PRICE = 2599
SALE_PRICE = 999


async def _order(stack: Stack, token: str, order_id: str) -> dict | None:
    async with stack.client("orders", token) as orders:
        response = await orders.get(f"/orders/{order_id}")
    return response.json() if response.status_code == 200 else None


def _service(span: ReadableSpan) -> str:
    return str(span.resource.attributes.get("service.name"))


async def test_buyers_tap_buy_in_a_flash_sale_pay_and_the_room_sells_out(stack: Stack) -> None:
    front = await open_shopfront(stack, stock=10, price_minor=LIST_PRICE)
    sku = front.sku_ids[0]
    async with stack.client("live", front.host_token) as host:
        created = await host.post(
            f"/rooms/{front.room_id}/flash-sales",
            json={"sku_id": sku, "quantity": 2, "price_minor": SALE_PRICE, "per_buyer_limit": 1, "duration_s": 900},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert created.status_code == 201, created.text
    sale = created.json()
    assert (sale["status"], sale["remaining"], sale["title"], sale["currency"]) == ("running", 2, "Linen Shirt", "USD")
    # Shop set the two units aside for the sale: the shelf still has them, nobody else can buy them.
    assert await sku_stock(stack, front, sku) == (10, 2)

    stack.spans.clear()
    trace_id = uuid.uuid4().hex
    async with stack.client("live", front.buyer_token) as buyer:
        tapped = await buyer.post(
            f"/rooms/{front.room_id}/flash-sales/{sale['sale_id']}/purchase",
            json={"quantity": 1},
            headers={"Idempotency-Key": str(uuid.uuid4()), "traceparent": f"00-{trace_id}-{'1' * 16}-01"},
        )
    assert tapped.status_code == 201, tapped.text
    admission = tapped.json()
    assert (admission["unit_price_minor"], admission["quantity"], admission["status"]) == (SALE_PRICE, 1, "admitted")

    order = await eventually(lambda: _order(stack, front.buyer_token, admission["order_id"]), timeout=20)
    assert (order["status"], order["amount_minor"]) == ("awaiting_payment", SALE_PRICE)
    assert order["lines"][0]["room_id"] == front.room_id
    async with stack.client("orders", front.buyer_token) as orders:
        confirm = await orders.post(f"/payments/{order['payment_id']}/confirm", json={"payment_method": "pm_card_visa"})
    assert confirm.status_code == 202, confirm.text

    async def paid() -> bool:
        current = await _order(stack, front.buyer_token, admission["order_id"])
        return current is not None and current["status"] == "paid"

    await eventually(paid, timeout=20)
    # The paid unit left the shelf from the sale's allocation; one unit is still set aside for the sale.
    await eventually(lambda: _stock_is(stack, front, sku, (9, 1)), timeout=20)
    stats = await eventually(lambda: _counted(stack, front), timeout=20)
    assert (stats["paid_orders"], stats["paid_amount_minor"]) == (1, SALE_PRICE)

    # The buyer's tap and the order it made are tied: the admission batch links to the tap's trace, and
    # orders made the order in the batch's trace, with the room as an attribute.
    spans = list(stack.spans.get_finished_spans())
    (batch,) = [s for s in spans if s.name == "live.flash_sale admit"]
    assert int(trace_id, 16) in {link.context.trace_id for link in batch.links}
    made = [
        s
        for s in spans
        if s.name == f"{FlashSaleAdmitted.SUBJECT} process"
        and _service(s) == "liveloop-orders"
        and s.context.trace_id == batch.context.trace_id
    ]
    assert made
    assert made[0].attributes.get(names.ROOM_ID) == front.room_id

    # The last unit goes to the next buyer; after that the sale is sold out for everyone.
    tokens = [stack.infra.token("buyer") for _ in range(3)]
    answers = []
    for token in tokens:
        async with stack.client("live", token) as buyer:
            answers.append(
                await buyer.post(
                    f"/rooms/{front.room_id}/flash-sales/{sale['sale_id']}/purchase",
                    json={"quantity": 1},
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                )
            )
    assert [a.status_code for a in answers] == [201, 409, 409]
    assert {a.json()["type"] for a in answers[1:]} == {PROBLEM + "sold-out"}
    async with stack.client("live") as anyone:
        final = (await anyone.get(f"/rooms/{front.room_id}/flash-sales/{sale['sale_id']}")).json()
    assert (final["remaining"], final["status"]) == (0, "running")


async def _stock_is(stack: Stack, front, sku: str, expected: tuple[int, int]) -> bool:
    return await sku_stock(stack, front, sku) == expected


async def _counted(stack: Stack, front) -> dict | None:
    stats = await room_stats(stack, front)
    return stats if stats["paid_orders"] else None
