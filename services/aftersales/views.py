"""What aftersales' API answers with: plain Structs the store builds and the use cases return."""

from __future__ import annotations

from datetime import datetime

import msgspec


class CaseLineView(msgspec.Struct, kw_only=True):
    line_no: int
    sku_id: str
    quantity: int
    # exchange: the SKU the buyer gets instead.
    replacement_sku_id: str | None = None
    # Set once the return is received: units fit to sell again.
    restockable: int | None = None


class ShipmentView(msgspec.Struct, kw_only=True):
    carrier: str
    tracking_number: str


class CaseEventView(msgspec.Struct, kw_only=True):
    """One step of a case's history: who did what, when, and the status it left the case in."""

    at: datetime
    actor: str
    action: str
    status: str
    note: str | None = None


class CaseView(msgspec.Struct, kw_only=True):
    """A case as its buyer, its merchant and operators see it."""

    case_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    kind: str
    status: str
    # Whose move it is (merchant, buyer, operator, platform), null once final.
    next_action: str | None
    # When the state's timeout move happens, where one applies.
    deadline: datetime | None
    lines: list[CaseLineView]
    reason_code: str
    description: str
    evidence_urls: list[str]
    reject_reason: str | None
    refuse_reason: str | None
    escalated_from: str | None
    decision: str | None
    decision_note: str | None
    return_shipment: ShipmentView | None
    replacement_shipment: ShipmentView | None
    refund_amount_minor: int | None
    stripe_refund_id: str | None
    history: list[CaseEventView]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class CaseSummary(msgspec.Struct, kw_only=True):
    """A case in a list: enough to pick it and see whose move it is."""

    case_id: str
    order_id: str
    kind: str
    status: str
    next_action: str | None
    deadline: datetime | None
    reason_code: str
    lines: list[CaseLineView]
    created_at: datetime
    updated_at: datetime


class CasePage(msgspec.Struct, kw_only=True):
    items: list[CaseSummary]
    next_cursor: str | None = None
