"""Opening a case: on what order, which lines, how many units (the rules, without I/O)."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from services.aftersales.domain.cases import CaseUnits
from services.aftersales.domain.refusals import (
    CaseLimitReached,
    CaseWindowClosed,
    DealLineRefundOnly,
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
    """One order line: units ordered and shipped, and what other cases hold of it.

    A deal line (a local-life deal: vouchers, never shipped) is open to a case only for its redeemed vouchers (unused
    ones are refunded at local_life), and its case window runs from its vouchers' last day of validity
    (`window_from`), not from the order's delivery: a voucher redeemed on its last day still gets the whole window."""

    line_no: int
    sku_id: str
    product_id: str
    quantity: int
    shipped: int
    # Units of the line's other cases that are not cancelled or closed.
    held: int
    # Cases ever opened on the line, whatever became of them.
    cases: int
    deal: bool = False
    # Deal lines: the latest valid_until of the line's vouchers (None until they are issued).
    window_from: datetime | None = None
    # Deal lines: the line's vouchers with a redemption not undone, and its units local_life refunds.
    redeemed: int = 0
    refunded_at_local_life: int = 0


class AskedLine(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    quantity: int
    replacement_sku_id: str | None = None


def refundable(line: LineFacts) -> int:
    """Units a new case may ask for: shipped, less the units of the line's other live cases.

    A deal line's are its units in use instead: as many as its redeemed vouchers, at most its units not refunded at
    local_life. A multi-visit card with any visit redeemed is then one unit (so two visits of one card count two
    units: an upper bound, which orders' cap on what the line may still refund keeps honest)."""
    in_use = min(line.quantity - line.refunded_at_local_life, line.redeemed) if line.deal else line.shipped
    return max(in_use - line.held, 0)


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
        _check_window(order, line, index, now=now, window_s=window_s)
        if line.deal and kind != "refund_only":
            raise DealLineRefundOnly(index)
        if ask.replacement_sku_id is not None and kind != "exchange":
            raise ReplacementNotExchange(index)
        if line.cases >= max_cases_per_line:
            raise CaseLimitReached(index, max_cases_per_line)
        if ask.quantity > refundable(line):
            raise QuantityExceedsRefundable(index, refundable(line), deal=line.deal)
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


def _check_window(order: OrderFacts, line: LineFacts, index: int, *, now: datetime, window_s: int) -> None:
    """Goods: until `window_s` after the order's delivery (any time before it). A deal line: until `window_s` after
    its vouchers' last day of validity, whatever the order's delivery says."""
    window = timedelta(seconds=window_s)
    if line.deal:
        if line.window_from is not None and now > line.window_from + window:
            raise CaseWindowClosed(
                "this deal line's vouchers expired too long ago to open a case", field=f"lines[{index}].line_no"
            )
    elif order.delivered_at is not None and now > order.delivered_at + window:
        raise CaseWindowClosed()
