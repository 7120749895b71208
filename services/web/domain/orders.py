"""What the checkout, order, shipment and after-sales pages show, without I/O: the times in the APIs' answers, an
order's timeline, which moves a case offers its buyer, merchant or operator, and the forms read into API bodies.

Which moves a page *offers* mirrors the services' rules only to hide buttons that cannot work; the services decide
(a move out of turn is refused in their words, and the page shows that).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.web.domain import NotAnAmount, parse_count

# Keys of the APIs' answers holding a moment (besides every `..._at`).
_TIME_KEYS = frozenset({"ship_by", "pay_by", "complete_by", "deadline", "at"})

ORDER_STATUSES = ("awaiting_payment", "paid", "partially_shipped", "shipped", "delivered", "completed", "cancelled")
CANCEL_REASONS: dict[str, str] = {
    "buyer_cancelled": "Cancelled by the buyer",
    "late_shipment": "Not shipped in time: the rest was cancelled",
    "payment_timeout": "Not paid in time",
}
REFUND_ORIGINS: dict[str, str] = {
    "case": "after-sales case",
    "cancel": "cancelled units",
    "local_life": "vouchers refunded",
}
CASE_STATUSES = (
    "requested",
    "rejected",
    "awaiting_return",
    "return_in_transit",
    "receipt_refused",
    "replacement_pending",
    "refund_offered",
    "escalated",
    "refund_pending",
    "refund_failed",
    "refunded",
    "exchanged",
    "closed",
    "cancelled",
)
CASE_KINDS = ("refund_only", "return_and_refund", "exchange")
CASE_KIND_LABELS: dict[str, str] = {
    "refund_only": "Refund only",
    "return_and_refund": "Return and refund",
    "exchange": "Exchange",
}
REASON_CODES = ("not_received", "damaged", "wrong_item", "not_as_described", "changed_mind", "other")
# The moves each role's page offers in a case's state (aftersales' MOVES, by actor).
BUYER_MOVES: dict[str, frozenset[str]] = {
    "send_return": frozenset({"awaiting_return"}),
    "escalate": frozenset({"rejected", "receipt_refused"}),
    "accept_refund": frozenset({"refund_offered"}),
    "cancel": frozenset(
        {
            "requested",
            "rejected",
            "awaiting_return",
            "return_in_transit",
            "receipt_refused",
            "escalated",
            "refund_offered",
        }
    ),
}
MERCHANT_MOVES: dict[str, frozenset[str]] = {
    "approve": frozenset({"requested"}),
    "reject": frozenset({"requested"}),
    "confirm_receipt": frozenset({"return_in_transit"}),
    "refuse_receipt": frozenset({"return_in_transit"}),
    "ship_replacement": frozenset({"replacement_pending"}),
}
OPERATOR_MOVES: dict[str, frozenset[str]] = {
    "decide": frozenset({"escalated"}),
    "retry_refund": frozenset({"refund_failed"}),
}

# The Stripe test payment methods localstripe knows (its canonical test articles), and what each does.
PAYMENT_METHODS: tuple[tuple[str, str], ...] = (
    ("pm_card_visa", "Visa test card (pays)"),
    ("pm_card_chargeCustomerFail", "Visa test card (declined)"),
)
# How many one-second looks the page takes at a payment being made before it stops and says so.
MAX_PAYMENT_POLLS = 60


# --- the APIs' answers ---------------------------------------------------------------------------------------------


def with_times(value: Any) -> Any:
    """An API's JSON with every moment (`..._at`, `deadline`, `ship_by`, ...) as a datetime, for `when`/`due_in`."""
    if isinstance(value, list):
        return [with_times(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, str) and (key.endswith("_at") or key in _TIME_KEYS):
            try:
                out[key] = datetime.fromisoformat(item)
            except ValueError:
                out[key] = item
        else:
            out[key] = with_times(item)
    return out


def is_key(text: str) -> bool:
    """A form's idempotency key: a UUID the page handed out (anything else is a form from elsewhere)."""
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def page_status(status: int) -> int:
    """The status a page answers with when it shows an API's refusal: the API's if it is 4xx, else 422."""
    return status if 400 <= status < 500 else 422


# --- the timeline of an order ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing that happened to an order: when, what (a msgid), what goes with it, where to read more."""

    at: datetime
    what: str
    # A msgid saying more (a case's kind, where a refund comes from), and data shown as it is (tracking, units).
    note: str = ""
    detail: str = ""
    amount: tuple[int, str] | None = None
    href: str | None = None
    testid: str = ""


def timeline(order: Mapping[str, Any], cases: Sequence[Mapping[str, Any]], case_path: str) -> list[Step]:
    """Placed, paid, each parcel shipped (carrier, tracking) and delivered, cancelled, completed, cases and refunds,
    oldest first. `order` and `cases` are the APIs' answers with their times read (`with_times`); `case_path` is where
    a case's page is (`/cases/` for the buyer, `/seller/cases/` for the merchant)."""
    currency = order["currency"]
    steps = [Step(order["created_at"], "Order placed", testid="placed")]
    if order.get("paid_at"):
        steps.append(Step(order["paid_at"], "Order paid", amount=(order["amount_minor"], currency), testid="paid"))
    titles = {line.get("line_no"): line["title"] for line in order["lines"]}
    for n, shipment in enumerate(order.get("shipments") or []):
        units = ", ".join(f"{titles.get(line['line_no'], '')} x {line['quantity']}" for line in shipment["lines"])
        tracking = f"{shipment['carrier']} {shipment['tracking_number']}"
        steps.append(Step(shipment["shipped_at"], "Shipped", detail=f"{tracking} · {units}", testid=f"shipped-{n}"))
        if shipment.get("delivered_at"):
            steps.append(Step(shipment["delivered_at"], "Parcel delivered", detail=tracking, testid=f"delivered-{n}"))
    if order.get("cancelled_at"):
        reason = CANCEL_REASONS.get(order.get("cancel_reason") or "", "Order cancelled")
        steps.append(Step(order["cancelled_at"], reason, testid="cancelled"))
    if order.get("completed_at"):
        what = "Receipt confirmed: completed" if order.get("completed_by") == "buyer" else "Completed automatically"
        steps.append(Step(order["completed_at"], what, testid="completed"))
    for case in cases:
        href = f"{case_path}{case['case_id']}"
        kind = CASE_KIND_LABELS.get(case["kind"], "")
        steps.append(Step(case["created_at"], "After-sales case opened", kind, href=href, testid="case"))
    for refund in order.get("refunds") or []:
        money = (refund["amount_minor"], refund["currency"])
        href = f"{case_path}{refund['case_id']}" if refund.get("case_id") else None
        origin = REFUND_ORIGINS.get(refund["origin"], "")
        steps.append(Step(refund["created_at"], "Refund requested", origin, amount=money, href=href, testid="refund"))
        if refund.get("settled_at") and refund["status"] in ("succeeded", "failed"):
            paid = refund["status"] == "succeeded"
            steps.append(
                Step(
                    refund["settled_at"],
                    "Refund paid" if paid else "Refund failed",
                    origin,
                    detail=refund.get("failure_reason") or "",
                    amount=money,
                    href=href,
                    testid="refund-paid" if paid else "refund-failed",
                )
            )
    return sorted(steps, key=lambda step: step.at)


# --- what a page offers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderActions:
    """The buyer's buttons on an order: pay, confirm receipt, cancel, ask for after-sales."""

    pay: bool
    confirm_receipt: bool
    cancel: bool
    open_case: bool


def buyer_actions(order: Mapping[str, Any]) -> OrderActions:
    """What the buyer may try on `order` (orders answers each with its own refusal when it is not the time)."""
    status = order["status"]
    ledgers = [line.get("ledger") or {} for line in order["lines"]]
    goods_to_ship = any(
        line.get("deal_id") is None and (line.get("ledger") or {}).get("to_ship", 0) > 0 for line in order["lines"]
    )
    return OrderActions(
        pay=status == "awaiting_payment",
        confirm_receipt=status in ("shipped", "delivered"),
        cancel=status in ("paid", "partially_shipped") and goods_to_ship,
        open_case=status not in ("awaiting_payment", "cancelled") and any(case_limit(ledger) > 0 for ledger in ledgers),
    )


def case_limit(ledger: Mapping[str, int]) -> int:
    """The most units of a line a new case may name, as orders' ledger says: shipped, not refunded, not returned."""
    return max(0, min(ledger.get("refundable", 0), ledger.get("returnable", 0)))


def moves_for(status: str, moves: Mapping[str, frozenset[str]]) -> frozenset[str]:
    """The moves of `moves` (one role's) a case in `status` offers."""
    return frozenset(move for move, sources in moves.items() if status in sources)


def payment_state(checkout: Mapping[str, Any], paying: str | None, polls: int) -> str:
    """Where paying a checkout stands, for the buyer: `paid`, `expired`, `processing` (a confirm was sent and
    Stripe's answer has not reached orders yet), `failed` (declined: pay again) or `payable`.

    `paying` is the payment's status when the buyer confirmed (None if they have not): a payment still in it is
    being processed; one that moved to failed was declined. Past `MAX_PAYMENT_POLLS` looks, `stalled`.
    """
    payment = checkout["payment"]["status"]
    if checkout["status"] == "paid" or payment == "succeeded":
        return "paid"
    if checkout["status"] == "expired":
        return "expired"
    if paying is not None and payment == paying:
        return "processing" if polls < MAX_PAYMENT_POLLS else "stalled"
    if payment in ("failed", "amount_mismatch"):
        return "failed"
    return "payable"


# --- forms ---------------------------------------------------------------------------------------------------------


def line_field(line_no: int, name: str) -> str:
    """A form field of one order line: `line-0-quantity`."""
    return f"line-{line_no}-{name}"


@dataclass
class LinesForm:
    """A form over an order's lines (a case, a shipment, a receipt): what was typed, the API body, errors by field."""

    values: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # The API body's `lines[i]` -> the order's line_no.
    line_of: list[int] = field(default_factory=list)

    def error_for_api_field(self, api_field: str | None) -> str:
        """The form field an API's `field` names (`lines[1].quantity` -> `line-<line_no>-quantity`); "" for the
        form as a whole."""
        if not api_field:
            return ""
        found = re.match(r"^lines\[(\d+)\](?:\.(\w+))?", api_field)
        if found:
            index, member = int(found.group(1)), found.group(2) or "quantity"
            if index >= len(self.line_of):
                return ""
            column = {"replacement_sku_id": "replacement", "restockable": "restockable"}.get(member, "quantity")
            return line_field(self.line_of[index], column)
        top = re.match(r"^(\w+)", api_field)
        name = top.group(1) if top else ""
        return name if name in self.values or name in ("kind", "reason_code", "description", "evidence_urls") else ""


def _quantities(
    values: Mapping[str, str], line_nos: Sequence[int], form: LinesForm, column: str
) -> list[tuple[int, int]]:
    chosen: list[tuple[int, int]] = []
    for line_no in line_nos:
        name = line_field(line_no, column)
        text = values.get(name, "").strip()
        if not text:
            continue
        try:
            quantity = parse_count(text)
        except NotAnAmount as exc:
            form.errors[name] = str(exc)
            continue
        if quantity > 0:
            chosen.append((line_no, quantity))
    return chosen


def read_case_form(values: dict[str, str], line_nos: Sequence[int], order_id: str) -> LinesForm:
    """The after-sales form as aftersales' `POST /cases` body: kind, reason, description, evidence (one URL a line),
    and each line's units (blank or 0: not in the case), with the replacement SKU of an exchange."""
    form = LinesForm(values=values)
    kind = values.get("kind", "")
    if kind not in CASE_KINDS:
        form.errors["kind"] = "Choose what you want"
    reason = values.get("reason_code", "")
    if reason not in REASON_CODES:
        form.errors["reason_code"] = "Choose a reason"
    lines: list[dict[str, Any]] = []
    for line_no, quantity in _quantities(values, line_nos, form, "quantity"):
        line: dict[str, Any] = {"line_no": line_no, "quantity": quantity}
        replacement = values.get(line_field(line_no, "replacement"), "").strip()
        if kind == "exchange" and replacement:
            line["replacement_sku_id"] = replacement
        lines.append(line)
        form.line_of.append(line_no)
    if not lines and not any(name.startswith("line-") for name in form.errors):
        form.errors["lines"] = "Choose at least one unit"
    evidence = [url.strip() for url in values.get("evidence_urls", "").splitlines() if url.strip()]
    form.body = {
        "order_id": order_id,
        "kind": kind,
        "reason_code": reason,
        "description": values.get("description", "").strip(),
        "evidence_urls": evidence,
        "lines": lines,
    }
    return form


def read_ship_form(values: dict[str, str], line_nos: Sequence[int]) -> LinesForm:
    """The ship form as orders' shipment body: carrier, tracking number and the units of each line in the parcel."""
    form = LinesForm(values=values)
    for name in ("carrier", "tracking_number"):
        if not values.get(name, "").strip():
            form.errors[name] = "Required"
    lines = []
    for line_no, quantity in _quantities(values, line_nos, form, "quantity"):
        lines.append({"line_no": line_no, "quantity": quantity})
        form.line_of.append(line_no)
    if not lines and not any(name.startswith("line-") for name in form.errors):
        form.errors["lines"] = "Choose at least one unit to ship"
    form.body = {
        "carrier": values.get("carrier", "").strip(),
        "tracking_number": values.get("tracking_number", "").strip(),
        "lines": lines,
    }
    return form


def read_receipt_form(values: dict[str, str], line_nos: Sequence[int]) -> LinesForm:
    """The receipt form as aftersales' confirm-receipt body: how many units of each line can be sold again."""
    form = LinesForm(values=values)
    lines = []
    for line_no in line_nos:
        name = line_field(line_no, "restockable")
        text = values.get(name, "").strip()
        if not text:
            continue
        try:
            restockable = parse_count(text)
        except NotAnAmount as exc:
            form.errors[name] = str(exc)
            continue
        lines.append({"line_no": line_no, "restockable": restockable})
        form.line_of.append(line_no)
    form.body = {"lines": lines}
    return form


def read_text_form(values: Mapping[str, str], *names: str) -> tuple[dict[str, str], dict[str, str]]:
    """Required text fields (a reason, a carrier and tracking number): (the body, errors by field)."""
    body = {name: values.get(name, "").strip() for name in names}
    return body, {name: "Required" for name, value in body.items() if not value}


RULINGS = ("buyer", "merchant")


def read_ruling(values: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The operator's ruling as aftersales' decide body: in whose favour, and the note both sides will read."""
    body, errors = read_text_form(values, "in_favour_of", "note")
    if body["in_favour_of"] and body["in_favour_of"] not in RULINGS:
        errors["in_favour_of"] = "Choose the buyer or the merchant"
    return body, errors
