"""Opening a case: on what order, which lines, how many units (the rules, without I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from services.aftersales.domain.cases import CaseUnits
from services.aftersales.domain.refusals import (
    CaseLimitReached,
    CaseWindowClosed,
    DuplicateLine,
    ExchangeOneLine,
    OrderCancelled,
    OrderNotFound,
    OrderNotPaid,
    QuantityExceedsRefundable,
    ReplacementNotExchange,
    UnknownLine,
)


class OrderFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What aftersales knows of a paid order from orders' events."""

    order_id: str
    buyer_id: str
    merchant_id: str
    cancelled: bool
    delivered_at: datetime | None


class LineFacts(msgspec.Struct, frozen=True, kw_only=True):
    """One order line: units ordered and shipped, and what other cases hold of it."""

    line_no: int
    sku_id: str
    product_id: str
    quantity: int
    shipped: int
    # Units of the line's other cases that are not cancelled or closed.
    held: int
    # Cases ever opened on the line, whatever became of them.
    cases: int


class AskedLine(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    quantity: int
    replacement_sku_id: str | None = None


def refundable(line: LineFacts) -> int:
    """Units a new case may ask for: shipped, less the units of the line's other live cases."""
    return max(line.shipped - line.held, 0)


def not_paid(cancelled_unpaid: bool | None) -> OrderNotFound | OrderNotPaid | OrderCancelled:
    """Why a case is refused on an order of the buyer's that aftersales knows no payment of: cancelled unpaid, placed
    and not paid (yet), or not known as the buyer's at all (None)."""
    if cancelled_unpaid is None:
        return OrderNotFound()
    return OrderCancelled() if cancelled_unpaid else OrderNotPaid()


def check_opening(
    order: OrderFacts,
    lines: dict[int, LineFacts],
    asked: list[AskedLine],
    *,
    kind: str,
    now: datetime,
    window_s: int,
    max_cases_per_line: int,
) -> list[CaseUnits]:
    """The case's lines if the buyer may open it now; the first rule it breaks otherwise."""
    if order.cancelled:
        raise OrderCancelled()
    if order.delivered_at is not None and now > order.delivered_at + timedelta(seconds=window_s):
        raise CaseWindowClosed()
    if kind == "exchange" and len(asked) != 1:
        raise ExchangeOneLine()
    seen: set[int] = set()
    units: list[CaseUnits] = []
    for index, ask in enumerate(asked):
        line = lines.get(ask.line_no)
        if line is None:
            raise UnknownLine(f"lines[{index}].line_no")
        if ask.line_no in seen:
            raise DuplicateLine(f"lines[{index}].line_no")
        seen.add(ask.line_no)
        if ask.replacement_sku_id is not None and kind != "exchange":
            raise ReplacementNotExchange(index)
        if line.cases >= max_cases_per_line:
            raise CaseLimitReached(index, max_cases_per_line)
        if ask.quantity > refundable(line):
            raise QuantityExceedsRefundable(index, refundable(line))
        replacement = (ask.replacement_sku_id or line.sku_id) if kind == "exchange" else None
        units.append(
            CaseUnits(
                line_no=line.line_no,
                sku_id=line.sku_id,
                product_id=line.product_id,
                quantity=ask.quantity,
                replacement_sku_id=replacement,
            )
        )
    return units
