"""What aftersales announces: cases opened and closed, refunds it grants, returns the merchant received."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from libs.contracts.base import Event


class CaseLine(msgspec.Struct, frozen=True, kw_only=True):
    """Units of one order line a case is about."""

    line_no: int
    sku_id: str
    quantity: int


class CaseOpened(Event, frozen=True, kw_only=True):
    """A buyer opened an after-sales case on an order: its auto-completion clock pauses until every case closes."""

    SUBJECT: ClassVar[str] = "aftersales.case.opened.v1"
    case_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    kind: str
    lines: list[CaseLine] = []


class CaseClosed(Event, frozen=True, kw_only=True):
    """A case reached a final state (`refunded`, `exchanged`, `closed`, `cancelled`)."""

    SUBJECT: ClassVar[str] = "aftersales.case.closed.v1"
    case_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    kind: str
    status: str


class RefundGranted(Event, frozen=True, kw_only=True):
    """aftersales decided that these units of the order are refunded; orders prices and executes it exactly once.

    `grant_id` names the refund for ever (Stripe's idempotency key is derived from it); a second grant for the same
    case (an operator's retry of a failed one) has a new id.
    """

    SUBJECT: ClassVar[str] = "aftersales.refund.granted.v1"
    grant_id: str
    case_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    lines: list[CaseLine]


class ReturnedLine(msgspec.Struct, frozen=True, kw_only=True):
    line_no: int
    sku_id: str
    # Units the merchant received back, and of those the ones fit to sell again (the rest are damaged).
    quantity: int
    restockable: int


class ReturnReceived(Event, frozen=True, kw_only=True):
    """The merchant received a case's returned units (or the deadline confirmed it): shop puts the restockable ones
    back on hand, orders counts them in the line's ledger."""

    SUBJECT: ClassVar[str] = "aftersales.return.received.v1"
    case_id: str
    order_id: str
    merchant_id: str
    lines: list[ReturnedLine]


__all__ = ["CaseClosed", "CaseLine", "CaseOpened", "RefundGranted", "ReturnReceived", "ReturnedLine"]
