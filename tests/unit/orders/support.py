"""What the orders unit tests share: reserved lines and checkout plans built from them."""

from __future__ import annotations

import uuid

from libs.contracts import ReservedLine
from services.orders import domain


def line(merchant: str, price: int, qty: int = 1, currency: str = "USD", room: str | None = None) -> ReservedLine:
    """A line shop reserved: `qty` of a tea at `price`, sold by `merchant`."""
    return ReservedLine(
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        merchant_id=merchant,
        title="Tea",
        sku_name="250 g",
        quantity=qty,
        unit_price_minor=price,
        currency=currency,
        room_id=room,
    )


def plan(*lines: ReservedLine) -> domain.CheckoutPlan:
    """The checkout of these lines: one order per merchant."""
    merchants = {ln.merchant_id for ln in lines}
    return domain.plan_checkout("c1", "p1", list(lines), {m: f"order-{m}" for m in merchants})
