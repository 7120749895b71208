"""What the funnel's read-side tests share: the figures over HTTP, the staff feed over SSE, the rows of the read model
and the `liveloop.funnel.step` metric points, so that a test can check that all three agree."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from libs.contracts import (
    CartItemAdded,
    OrderLine,
    OrderPaid,
    OrderPlaced,
    RefundLine,
    RefundSucceeded,
    VoucherRedeemed,
    VoucherSource,
)
from libs.telemetry import names
from tests.harness import Stack, eventually
from tests.integration.live.support import FeedEvent, FeedReader

FUNNEL_STEP = names.FUNNEL_STEP


async def funnel(stack: Stack, path: str, token: str, **params: Any) -> dict[str, Any]:
    """GET a funnel (`/rooms/{id}/funnel`, ...) as `token`, expecting 200."""
    async with stack.client("live", token) as client:
        response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def funnel_reaches(stack: Stack, path: str, token: str, **wanted: int) -> dict[str, Any]:
    """Poll the funnel until each named figure is at least the wanted value (the consumers fold in batches)."""

    async def check() -> dict[str, Any] | None:
        body = await funnel(stack, path, token)
        return body if all(body[k] >= v for k, v in wanted.items()) else None

    return await eventually(check, timeout=30)


def money(body: dict[str, Any], currency: str = "USD") -> dict[str, Any]:
    """One currency's takings in a funnel answer (zeros when there are none)."""
    for entry in body["money"]:
        if entry["currency"] == currency:
            return entry
    return {"currency": currency, "gross_paid_minor": 0, "refunded_minor": 0, "net_minor": 0}


async def minute_rows(db: asyncpg.Connection, scope: str, scope_id: str) -> dict[str, dict[str, Any]]:
    """The rollup rows of a scope summed per step: n, quantity, amount and watch seconds."""
    rows = await db.fetch(
        """SELECT step, sum(n)::bigint AS n, sum(quantity)::bigint AS quantity, sum(amount_minor)::bigint AS amount,
                  sum(watch_s) AS watch_s
           FROM live.funnel_minutes WHERE scope = $1 AND scope_id = $2 GROUP BY step""",
        scope,
        scope_id,
    )
    return {
        row["step"]: {"n": row["n"], "quantity": row["quantity"], "amount": row["amount"], "watch_s": row["watch_s"]}
        for row in rows
    }


async def fact_counts(db: asyncpg.Connection, column: str, value: str) -> Counter[str]:
    """How many facts of each step name this room, session, video or sale (`column` is one of the fact columns)."""
    assert column in {"room_id", "session_id", "video_id", "sale_id", "host_id", "merchant_id"}
    rows = await db.fetch(
        f"SELECT step, count(*) AS n FROM live.funnel_facts WHERE {column} = $1 GROUP BY step",
        value,
    )
    return Counter({row["step"]: row["n"] for row in rows})


def step_points(metrics: InMemoryMetricReader) -> Counter[str]:
    """The running total of `liveloop.funnel.step` per step, over every source type."""
    data = metrics.get_metrics_data()
    totals: Counter[str] = Counter()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == FUNNEL_STEP:
                    for point in metric.data.data_points:
                        totals[str(point.attributes.get(names.FUNNEL_STEP_NAME))] += point.value
    return totals


def step_attributes(metrics: InMemoryMetricReader) -> list[dict[str, Any]]:
    """The attribute sets of every `liveloop.funnel.step` point (to check they carry no ids)."""
    data = metrics.get_metrics_data()
    return [
        dict(point.attributes)
        for resource in (data.resource_metrics if data else [])
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == FUNNEL_STEP
        for point in metric.data.data_points
    ]


class StaffFeedReader(FeedReader):
    """An SSE client of `GET /rooms/{id}/funnel/feed` as one of the room's staff."""

    def __init__(self, stack: Stack, room_id: str, token: str, key: str = "live") -> None:
        super().__init__(stack, room_id, key)
        self.url = f"{stack.url(key)}/rooms/{room_id}/funnel/feed"
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(30, read=None), headers={"Authorization": f"Bearer {token}"}
        )

    async def figures(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next figures pushed (keep-alives skipped)."""
        event: FeedEvent = await self.next_of("funnel", timeout=timeout)
        return event.data

    async def figures_until(self, check, timeout: float) -> dict[str, Any]:
        """Pushed figures until `check(figures)` holds, within `timeout` seconds in all."""

        async def wait() -> dict[str, Any]:
            while True:
                body = await self.figures(timeout=timeout)
                if check(body):
                    return body

        return await asyncio.wait_for(wait(), timeout)


def decoded(event: FeedEvent) -> dict[str, Any]:
    return event.data if isinstance(event.data, dict) else json.loads(event.data)


# --- the owning services' contract events, as their relays publish them -----------------------------


def order_line(
    product_id: str,
    amount_minor: int,
    *,
    room_id: str | None = None,
    video_id: str | None = None,
    deal_id: str | None = None,
    quantity: int = 1,
) -> OrderLine:
    """One line; a deal line names the deal as its product and SKU too (as orders writes it)."""
    item = deal_id or product_id
    return OrderLine(
        sku_id=deal_id or str(uuid.uuid4()),
        product_id=item,
        title="Linen Shirt" if deal_id is None else "Hotpot for two",
        sku_name="M",
        quantity=quantity,
        unit_price_minor=amount_minor // quantity,
        amount_minor=amount_minor,
        room_id=room_id,
        video_id=video_id,
        deal_id=deal_id,
    )


class Order:
    """One order made up by a test: its placed, paid, refunded events, with the same ids throughout."""

    def __init__(self, buyer_id: str, merchant_id: str, line: OrderLine, at: datetime) -> None:
        self.order_id, self.checkout_id, self.payment_id = (str(uuid.uuid4()) for _ in range(3))
        self.buyer_id, self.merchant_id, self.line, self.at = buyer_id, merchant_id, line, at

    def _facts(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "checkout_id": self.checkout_id,
            "buyer_id": self.buyer_id,
            "merchant_id": self.merchant_id,
            "lines": [self.line],
        }

    def placed(self) -> OrderPlaced:
        return OrderPlaced(
            **self._facts(),
            payment_id=self.payment_id,
            amount_minor=self.line.amount_minor,
            currency="USD",
            pay_by=self.at + timedelta(minutes=30),
            occurred_at=self.at,
        )

    def paid(self) -> OrderPaid:
        return OrderPaid(
            **self._facts(),
            payment_id=self.payment_id,
            amount_minor=self.line.amount_minor,
            currency="USD",
            paid_at=self.at,
            occurred_at=self.at,
        )

    def refunded(self, amount_minor: int) -> RefundSucceeded:
        refund_line = RefundLine(
            line_no=0, sku_id=self.line.sku_id, quantity=1, amount_minor=amount_minor, room_id=self.line.room_id
        )
        return RefundSucceeded(
            grant_id=str(uuid.uuid4()),
            **self._facts(),
            amount_minor=amount_minor,
            currency="USD",
            refund_lines=[refund_line],
            stripe_refund_id=f"re_{uuid.uuid4().hex[:16]}",
            refunded_at=self.at,
            occurred_at=self.at,
        )

    def redeemed(self) -> VoucherRedeemed:
        assert self.line.deal_id is not None
        return VoucherRedeemed(
            redemption_id=str(uuid.uuid4()),
            voucher_id=str(uuid.uuid4()),
            deal_id=self.line.deal_id,
            merchant_id=self.merchant_id,
            store_id=str(uuid.uuid4()),
            clerk_id=f"clerk-{uuid.uuid4().hex[:8]}",
            source=VoucherSource(order_id=self.order_id, line_no=0, room_id=self.line.room_id),
            redeemed_at=self.at,
            occurred_at=self.at,
        )


def cart_added(
    buyer_id: str, product_id: str, merchant_id: str, at: datetime, *, source_type: str, source_id: str
) -> CartItemAdded:
    """A buyer put one unit of a product in the cart from a room or video (as shop's relay publishes it)."""
    sku_id = str(uuid.uuid4())
    return CartItemAdded(
        fact_key=f"{buyer_id}:{sku_id}:{at.isoformat()}",
        buyer_id=buyer_id,
        sku_id=sku_id,
        product_id=product_id,
        merchant_id=merchant_id,
        quantity=1,
        unit_price_minor=2500,
        currency="USD",
        source_type=source_type,
        source_id=source_id,
        source_verified=source_type == "room",
        added_at=at,
        occurred_at=at,
    )
