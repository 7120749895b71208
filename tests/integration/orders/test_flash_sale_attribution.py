"""A flash-sale order's line names the room live admitted its buyer in, and says live vouched for it: live made it."""

from __future__ import annotations

import uuid
from typing import Any

from libs.contracts import Admission, FlashSaleAdmitted
from tests.harness import Stack, eventually, publish

SERVICES = ("orders",)


async def test_a_flash_sale_line_names_its_room_as_verified(stack: Stack) -> None:
    admitted = Admission(
        admission_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{uuid.uuid4().hex[:10]}",
        quantity=1,
        admitted_at=stack.clock.now(),
    )
    event = FlashSaleAdmitted(
        sale_id=str(uuid.uuid4()),
        room_id=f"room-{uuid.uuid4().hex[:8]}",
        merchant_id=str(uuid.uuid4()),
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        title="Matcha",
        sku_name="30 g",
        unit_price_minor=990,
        currency="USD",
        pay_within_s=300,
        admissions=[admitted],
    )
    await publish(stack, event)
    async with stack.client("orders", stack.infra.token("buyer", sub=admitted.buyer_id)) as client:

        async def order() -> dict[str, Any] | None:
            response = await client.get(f"/orders/{admitted.order_id}")
            return response.json() if response.status_code == 200 else None

        (line,) = (await eventually(order, timeout=15))["lines"]
    assert (line["room_id"], line["room_verified"]) == (event.room_id, True)
