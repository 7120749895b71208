"""A case's state machine as data: its states, who moves it from where, where each move leads, the deadlines.

`approved` and `received` are moves, not resting states: `plan` resolves them at once to where the case goes on
(by its kind, and for an exchange by whether shop could take the replacement).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from services.aftersales.domain.refusals import CaseNotMovable

KINDS = ("refund_only", "return_and_refund", "exchange")
REASON_CODES = ("not_received", "damaged", "wrong_item", "not_as_described", "changed_mind", "other")

# The due job making a state's timeout move: key = case id, payload = {"status": the state it was set for}.
DEADLINE_JOB = "case_deadline"

BUYER, MERCHANT, OPERATOR, PLATFORM = "buyer", "merchant", "operator", "platform"


@dataclass(frozen=True)
class State:
    """A resting state: whose move it is, the setting naming its deadline, and the move made when that passes."""

    next_action: str | None
    deadline_setting: str | None = None
    timeout: str | None = None

    @property
    def final(self) -> bool:
        return self.next_action is None


STATES: dict[str, State] = {
    "requested": State(MERCHANT, "merchant_response_s", "approve"),
    "rejected": State(BUYER, "escalation_window_s", "close"),
    "awaiting_return": State(BUYER, "return_ship_s", "close"),
    "return_in_transit": State(MERCHANT, "receipt_confirm_s", "confirm_receipt"),
    "receipt_refused": State(BUYER, "escalation_window_s", "close"),
    "replacement_pending": State(MERCHANT, "replacement_ship_s", "replacement_overdue"),
    "refund_offered": State(BUYER, "refund_offer_s", "accept_refund"),
    "escalated": State(OPERATOR),
    "refund_pending": State(PLATFORM),
    "refund_failed": State(OPERATOR),
    "refunded": State(None),
    "exchanged": State(None),
    "closed": State(None),
    "cancelled": State(None),
}
FINAL = frozenset(name for name, state in STATES.items() if state.final)
# Cases whose units no longer count against a line's refundable units.
RELEASED = frozenset({"cancelled", "closed"})


@dataclass(frozen=True)
class Move:
    """Who may make a move (a deadline, `platform`, makes timeouts and refund results) and from which states."""

    actor: str
    sources: frozenset[str]
    # The refusal's code when the case is in another state.
    refusal: str


def _move(actor: str, refusal: str, *sources: str) -> Move:
    return Move(actor, frozenset(sources), refusal)


MOVES: dict[str, Move] = {
    "approve": _move(MERCHANT, "case-not-approvable", "requested"),
    "reject": _move(MERCHANT, "case-not-rejectable", "requested"),
    "send_return": _move(BUYER, "case-not-returnable", "awaiting_return"),
    "confirm_receipt": _move(MERCHANT, "case-not-receivable", "return_in_transit"),
    "refuse_receipt": _move(MERCHANT, "case-not-refusable", "return_in_transit"),
    "ship_replacement": _move(MERCHANT, "case-not-shippable", "replacement_pending"),
    "escalate": _move(BUYER, "case-not-escalatable", "rejected", "receipt_refused"),
    "cancel": _move(
        BUYER,
        "case-not-cancellable",
        "requested",
        "rejected",
        "awaiting_return",
        "return_in_transit",
        "receipt_refused",
        "escalated",
        "refund_offered",
    ),
    "accept_refund": _move(BUYER, "case-not-acceptable", "refund_offered"),
    "decide": _move(OPERATOR, "case-not-decidable", "escalated"),
    "retry_refund": _move(OPERATOR, "case-not-retryable", "refund_failed"),
    # Made by the platform only: a deadline's close, a refund's result.
    "close": _move(PLATFORM, "case-not-closable", "rejected", "awaiting_return", "receipt_refused"),
    "replacement_overdue": _move(PLATFORM, "case-not-escalatable", "replacement_pending"),
    "refund_succeeded": _move(PLATFORM, "case-not-refundable", "refund_pending"),
    "refund_failed": _move(PLATFORM, "case-not-refundable", "refund_pending"),
}


# What the history says each move did.
DONE: dict[str, str] = {
    "open": "opened",
    "approve": "approved",
    "reject": "rejected",
    "send_return": "return_sent",
    "confirm_receipt": "receipt_confirmed",
    "refuse_receipt": "receipt_refused",
    "ship_replacement": "replacement_shipped",
    "escalate": "escalated",
    "cancel": "cancelled",
    "accept_refund": "refund_accepted",
    "decide": "decided",
    "retry_refund": "refund_retried",
    "close": "closed",
    "replacement_overdue": "escalated",
    "refund_succeeded": "refunded",
    "refund_failed": "refund_failed",
}


class Case(msgspec.Struct, kw_only=True):
    """What a move is decided on: the case as stored, at one version."""

    case_id: str
    order_id: str
    buyer_id: str
    merchant_id: str
    kind: str
    status: str
    escalated_from: str | None
    grant_attempt: int
    version: int
    deadline: datetime | None


class CaseUnits(msgspec.Struct, frozen=True, kw_only=True):
    """One line of a case: the units asked for, and (exchange) the SKU given instead."""

    line_no: int
    sku_id: str
    product_id: str
    quantity: int
    replacement_sku_id: str | None = None
    restockable: int | None = None


class Plan(msgspec.Struct, frozen=True, kw_only=True):
    """Where a move takes a case, and what goes with it.

    `grant`: a new refund grant (RefundGranted); `return_received`: the returned units came back (ReturnReceived);
    `take`: shop must take the replacement first (`status` if it can; `refund_offered` if out of stock);
    `release`: shop gives a taken replacement back first.
    """

    status: str
    grant: bool = False
    return_received: bool = False
    take: bool = False
    release: bool = False


def ensure_movable(case: Case, action: str) -> None:
    """Refuse (409 `case-not-<action>able`, with the status) a move the case's state does not allow."""
    move = MOVES[action]
    if case.status not in move.sources:
        raise CaseNotMovable(move.refusal, case.status)


def _approved(kind: str) -> Plan:
    if kind == "refund_only":
        return Plan(status="refund_pending", grant=True)
    return Plan(status="awaiting_return")


def _received(kind: str) -> Plan:
    if kind == "exchange":
        return Plan(status="replacement_pending", return_received=True, take=True)
    return Plan(status="refund_pending", grant=True, return_received=True)


def plan(case: Case, action: str, *, in_favour_of: str | None = None) -> Plan:
    """Where `action` takes `case` from its current state (refused if that state does not allow it)."""
    ensure_movable(case, action)
    if action == "approve":
        return _approved(case.kind)
    if action == "confirm_receipt":
        return _received(case.kind)
    if action == "decide":
        if in_favour_of != BUYER:
            return Plan(status="closed")
        if case.escalated_from == "rejected":
            return _approved(case.kind)
        if case.escalated_from == "receipt_refused":
            return _received(case.kind)
        # From replacement_pending: the merchant did not ship the replacement; the buyer gets the refund instead.
        return Plan(status="refund_pending", grant=True, release=True)
    if action == "cancel":
        return Plan(status="cancelled", release=case.escalated_from == "replacement_pending")
    if action in ("accept_refund", "retry_refund"):
        return Plan(status="refund_pending", grant=True)
    return Plan(status=_TARGETS[action])


_TARGETS = {
    "reject": "rejected",
    "send_return": "return_in_transit",
    "refuse_receipt": "receipt_refused",
    "ship_replacement": "exchanged",
    "escalate": "escalated",
    "replacement_overdue": "escalated",
    "close": "closed",
    "refund_succeeded": "refunded",
    "refund_failed": "refund_failed",
}


def holds_replacement(status: str, escalated_from: str | None) -> bool:
    """The case keeps a replacement shop took for it: waiting to ship it, shipped, or escalated while waiting."""
    return status in ("replacement_pending", "exchanged") or (
        status == "escalated" and escalated_from == "replacement_pending"
    )


def out_of_stock(planned: Plan) -> Plan:
    """shop could not take the replacement: the buyer is offered the refund instead."""
    return Plan(status="refund_offered", return_received=planned.return_received)


def timeout_of(status: str) -> str | None:
    """The move made when `status`'s deadline passes (None: no deadline)."""
    return STATES[status].timeout


def deadline_of(status: str, settings: object, now: datetime) -> datetime | None:
    """When the case's time in `status` runs out, by the service's settings (None: it has no deadline)."""
    setting = STATES[status].deadline_setting
    if setting is None:
        return None
    return now + timedelta(seconds=getattr(settings, setting))


def next_action_of(status: str) -> str | None:
    return STATES[status].next_action


def is_final(status: str) -> bool:
    return status in FINAL
