"""The events a case makes: opened, closed, a refund granted, a return received."""

from __future__ import annotations

from datetime import datetime

from libs.contracts import CaseClosed, CaseLine, CaseOpened, RefundGranted, ReturnedLine, ReturnReceived
from libs.ids import derived_id
from services.aftersales.domain.cases import Case, CaseUnits


def grant_id(case_id: str, attempt: int) -> str:
    """The id of a case's `attempt`-th refund grant: the same approval, retried, names the same grant."""
    return derived_id("grant", case_id, str(attempt))


def _lines(units: list[CaseUnits]) -> list[CaseLine]:
    return [CaseLine(line_no=u.line_no, sku_id=u.sku_id, quantity=u.quantity) for u in units]


def opened(case: Case, units: list[CaseUnits], at: datetime) -> CaseOpened:
    return CaseOpened(
        case_id=case.case_id,
        order_id=case.order_id,
        buyer_id=case.buyer_id,
        merchant_id=case.merchant_id,
        kind=case.kind,
        lines=_lines(units),
        occurred_at=at,
    )


def closed(case: Case, status: str, at: datetime) -> CaseClosed:
    return CaseClosed(
        case_id=case.case_id,
        order_id=case.order_id,
        buyer_id=case.buyer_id,
        merchant_id=case.merchant_id,
        kind=case.kind,
        status=status,
        occurred_at=at,
    )


def granted(case: Case, attempt: int, units: list[CaseUnits], at: datetime) -> RefundGranted:
    return RefundGranted(
        grant_id=grant_id(case.case_id, attempt),
        case_id=case.case_id,
        order_id=case.order_id,
        buyer_id=case.buyer_id,
        merchant_id=case.merchant_id,
        lines=_lines(units),
        occurred_at=at,
    )


def returned(case: Case, units: list[CaseUnits], at: datetime) -> ReturnReceived:
    """The returned units; those with no `restockable` said (a deadline confirmed it: no one looked) restock none."""
    return ReturnReceived(
        case_id=case.case_id,
        order_id=case.order_id,
        merchant_id=case.merchant_id,
        lines=[
            ReturnedLine(line_no=u.line_no, sku_id=u.sku_id, quantity=u.quantity, restockable=u.restockable or 0)
            for u in units
        ],
        occurred_at=at,
    )
