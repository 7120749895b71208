"""What one process knows of one flash sale (its terms, whether it is sold out or ended) and its queue."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
from opentelemetry import trace

from libs.ids import derived_id
from libs.web.problems import Problem
from services.live.sales.domain import Admitted, Ask

Answer = Admitted | Problem


@dataclass
class Pending:
    ask: Ask
    future: asyncio.Future[Answer]
    link: trace.Link | None


@dataclass
class SaleGate:
    """This process's view of one sale: its fixed terms, whether it is known sold out or ended, its queue."""

    sale_id: str
    room_id: str
    sku_id: str
    price_minor: int
    currency: str
    per_buyer_limit: int
    starts_at: datetime
    ends_at: datetime
    ended: bool = False
    sold_out: bool = False
    checked_at: float = 0.0
    # (buyer, key) -> (units asked, answer): every admission, while none can be added (sold out or ended).
    closed: dict[tuple[str, str], tuple[int, Admitted]] | None = None
    pending: list[Pending] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None
    checking: asyncio.Task[None] | None = None
    loading: asyncio.Task[bool] | None = None

    @classmethod
    def of(cls, row: asyncpg.Record) -> SaleGate:
        return cls(
            sale_id=str(row["sale_id"]),
            room_id=str(row["room_id"]),
            sku_id=str(row["sku_id"]),
            price_minor=row["price_minor"],
            currency=row["currency"],
            per_buyer_limit=row["per_buyer_limit"],
            starts_at=row["starts_at"],
            ends_at=row["ends_at"],
            ended=row["status"] == "ended",
        )

    def admitted(self, row: asyncpg.Record) -> Admitted:
        return Admitted(
            admission_id=str(row["admission_id"]),
            order_id=str(row["order_id"]),
            sale_id=self.sale_id,
            quantity=row["quantity"],
            unit_price_minor=self.price_minor,
            currency=self.currency,
            pay_by=row["pay_by"],
        )

    def learn_sold_out(self, sold_out: bool) -> None:
        if sold_out != self.sold_out:
            self.closed = None if not self.ended else self.closed
        self.sold_out = sold_out
        self.checked_at = time.monotonic()


def admission_ids(sale_id: str, buyer_id: str, key: str) -> tuple[str, str]:
    """(admission id, order id) of a purchase: the same for every retry of it, so buyers can poll the order."""
    admission_id = derived_id("flash-sale-admission", sale_id, buyer_id, key)
    return admission_id, derived_id("flash-sale-order", admission_id)


def settle(future: asyncio.Future[Answer], answer: Answer) -> None:
    if not future.done():
        future.set_result(answer)
