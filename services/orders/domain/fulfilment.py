"""Pure fulfilment rules ("Orders: fulfilment" in docs/ARCHITECTURE.md): the quantity ledger, what a shipment may
send, what a buyer's cancel cancels, delivery and completion, the carrier's signature, and what they refuse."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from libs.contracts import (
    CancelledLine,
    OrderCancelledAfterPayment,
    OrderCompleted,
    OrderDelivered,
    OrderShipped,
    ShippedLine,
)
from libs.errors import BadRequest, Conflict, Invalid, NotFound
from services.orders.domain import OrderStatus, StoredOrder, _facts
from services.orders.domain.ledger import refundable_units

AUTO_COMPLETE_JOB = "order_auto_complete"
CANCEL_REASON_BUYER = "buyer_cancelled"
CANCEL_REASON_LATE = "late_shipment"
CANCEL_GRANT_ORIGIN = "cancel"
CARRIER_SIGNATURE_HEADER = "Liveloop-Carrier-Signature"


class CompletedBy(StrEnum):
    BUYER = "buyer"
    AUTO = "auto"


class ShipmentStatus(StrEnum):
    SHIPPED = "shipped"
    DELIVERED = "delivered"


SHIPPABLE = frozenset({OrderStatus.PAID, OrderStatus.PARTIALLY_SHIPPED})
COMPLETABLE = frozenset({OrderStatus.SHIPPED, OrderStatus.DELIVERED})


# --- refusals ------------------------------------------------------------------------------------------------------


class OrderNotShippable(Conflict):
    code = "order-not-shippable"


class QuantityExceedsUnshipped(Invalid):
    code = "quantity-exceeds-unshipped"


class UnknownLine(Invalid):
    code = "unknown-line"


class DuplicateLine(Invalid):
    code = "duplicate-line"


class TrackingNumberUsed(Conflict):
    code = "tracking-number-used"


class ShipmentNotFound(NotFound):
    code = "shipment-not-found"


class LineNotShippable(Invalid):
    """A line buying a local-life deal: its vouchers are issued by local_life, nothing is shipped."""

    code = "line-not-shippable"


class OrderNotCompletable(Conflict):
    code = "order-not-completable"


class AlreadyShipping(Conflict):
    code = "already-shipping"


class NothingToCancel(Conflict):
    code = "nothing-to-cancel"


class OrderNotCancellable(Conflict):
    code = "order-not-cancellable"


class VouchersRefundInstead(Conflict):
    """Every line of the order buys a local-life deal: nothing ships, so nothing is cancelled here; the buyer refunds
    unused vouchers at local_life (any time before use)."""

    code = "vouchers-refund-instead"


class CancelRefundRefused(Conflict):
    """The refund of the cancelled units was refused (over what the order may refund): nothing is cancelled."""

    code = "cancel-refund-refused"


class InvalidCarrierSignature(BadRequest):
    """A carrier callback not signed with the shared secret (or not lately): its signature is all that vouches."""

    code = "invalid-signature"

    def __init__(self, detail: str = f"the {CARRIER_SIGNATURE_HEADER} header is missing, wrong or stale") -> None:
        super().__init__(detail)


# --- the ledger ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    """What happened to one order line's units; the rest is derived, never stored."""

    line_no: int
    sku_id: str
    quantity: int
    shipped: int = 0
    delivered: int = 0
    cancelled: int = 0
    refund_requested: int = 0
    refunded: int = 0
    returned: int = 0
    restocked: int = 0
    flash_sale_id: str | None = None
    # A local-life deal line: never shipped (`shipped` counts the units whose vouchers local_life issued).
    deal_id: str | None = None

    @property
    def to_ship(self) -> int:
        if self.deal_id is not None:
            return 0
        return self.quantity - self.shipped - self.cancelled

    @property
    def refundable(self) -> int:
        """Units that left the merchant's hands or were cancelled, not yet in a refund (a deal's: any paid unit)."""
        deal_quantity = self.quantity if self.deal_id is not None else None
        return refundable_units(self.shipped, self.cancelled, self.refund_requested, deal_quantity=deal_quantity)

    @property
    def returnable(self) -> int:
        return self.shipped - self.returned


@dataclass(frozen=True)
class FulfilledOrder:
    """An order as fulfilment sees it under its row lock: its facts, deadlines and each line's ledger."""

    order: StoredOrder
    ledgers: list[Ledger]
    paid_at: datetime | None = None
    ship_by: datetime | None = None
    delivered_at: datetime | None = None
    complete_by: datetime | None = None
    completion_paused_at: datetime | None = None

    @property
    def order_id(self) -> str:
        return self.order.order_id

    @property
    def status(self) -> str:
        return self.order.status

    @property
    def to_ship(self) -> int:
        return sum(ledger.to_ship for ledger in self.ledgers)

    @property
    def goods(self) -> list[Ledger]:
        """The lines that ship (every line but those buying local-life deals)."""
        return [ledger for ledger in self.ledgers if ledger.deal_id is None]

    @property
    def shipped(self) -> int:
        """Units of goods shipped (a deal line's issued vouchers are no shipment)."""
        return sum(ledger.shipped for ledger in self.goods)


def is_late(status: str, ship_by: datetime | None, to_ship: int, now: datetime) -> bool:
    """Past the ship-by deadline with units still to ship."""
    return status in SHIPPABLE and ship_by is not None and to_ship > 0 and now >= ship_by


# --- shipping ------------------------------------------------------------------------------------------------------


def plan_shipment(order: FulfilledOrder, asked: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]]:
    """The (line_no, quantity) a shipment sends: what is asked, each within its line's `to_ship`, or (asked None)
    everything left to ship."""
    if order.status not in SHIPPABLE:
        raise OrderNotShippable(
            f"an order that is {order.status} cannot ship; only paid or partially shipped orders can",
            order_status=order.status,
        )
    by_line = {ledger.line_no: ledger for ledger in order.ledgers}
    if asked is None:
        everything = [(ledger.line_no, ledger.to_ship) for ledger in order.ledgers if ledger.to_ship > 0]
        if not everything:
            # A paid order of vouchers only (or whose goods were all cancelled): nothing will ever ship.
            raise OrderNotShippable(
                "this order has nothing to ship: its lines are local-life vouchers", order_status=order.status
            )
        return everything
    seen: set[int] = set()
    for i, (line_no, quantity) in enumerate(asked):
        ledger = by_line.get(line_no)
        if ledger is None:
            raise UnknownLine(f"the order has no line {line_no}", field=f"lines[{i}].line_no")
        if ledger.deal_id is not None:
            raise LineNotShippable(
                f"line {line_no} buys a local-life deal: its vouchers are issued, never shipped",
                field=f"lines[{i}].line_no",
            )
        if line_no in seen:
            raise DuplicateLine(f"line {line_no} is named twice", field=f"lines[{i}].line_no")
        seen.add(line_no)
        if quantity > ledger.to_ship:
            raise QuantityExceedsUnshipped(
                f"line {line_no} has {ledger.to_ship} units left to ship, not {quantity}",
                field=f"lines[{i}].quantity",
                to_ship=ledger.to_ship,
            )
    return list(asked)


def status_after_shipment(order: FulfilledOrder, sent: Sequence[tuple[int, int]]) -> OrderStatus:
    """shipped when nothing is left to ship after `sent`, else partially_shipped."""
    left = order.to_ship - sum(quantity for _, quantity in sent)
    return OrderStatus.SHIPPED if left == 0 else OrderStatus.PARTIALLY_SHIPPED


def shipped_event(
    order: FulfilledOrder,
    shipment_id: str,
    carrier: str,
    tracking_number: str,
    sent: Sequence[tuple[int, int]],
    fully_shipped: bool,
    at: datetime,
) -> OrderShipped:
    sku_of = {ledger.line_no: ledger.sku_id for ledger in order.ledgers}
    return OrderShipped(
        **_facts(order.order),
        shipment_id=shipment_id,
        carrier=carrier,
        tracking_number=tracking_number,
        shipped_lines=[ShippedLine(line_no=n, sku_id=sku_of[n], quantity=q) for n, q in sent],
        fully_shipped=fully_shipped,
        shipped_at=at,
        occurred_at=at,
    )


# --- delivery and completion ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """When a delivered order completes by itself: `complete_by`, or nothing while the clock is stopped."""

    complete_by: datetime
    paused_at: datetime | None


def completion_on_delivery(delivered_at: datetime, auto_complete_s: int, cases_open: bool) -> Completion:
    """A delivered order completes `auto_complete_s` after delivery; with a case open its clock starts stopped."""
    return Completion(delivered_at + timedelta(seconds=auto_complete_s), delivered_at if cases_open else None)


def resumed_complete_by(complete_by: datetime, paused_at: datetime, now: datetime) -> datetime:
    """The completion deadline moved on by the time its clock was stopped."""
    return complete_by + max(now - paused_at, timedelta(0))


def is_due_to_complete(order: FulfilledOrder, cases_open: bool, now: datetime) -> bool:
    """The auto-completion job's test: still delivered, no case open, the clock running and run out."""
    return (
        order.status == OrderStatus.DELIVERED
        and not cases_open
        and order.completion_paused_at is None
        and order.complete_by is not None
        and order.complete_by <= now
    )


def ensure_completable(order: FulfilledOrder) -> bool:
    """True when the buyer's confirm-receipt completes the order now, False when it is already completed."""
    if order.status == OrderStatus.COMPLETED:
        return False
    if order.status not in COMPLETABLE:
        raise OrderNotCompletable(
            f"an order that is {order.status} cannot be confirmed received; it must have shipped",
            order_status=order.status,
        )
    return True


def delivered_event(order: FulfilledOrder, at: datetime) -> OrderDelivered:
    return OrderDelivered(**_facts(order.order), delivered_at=at, occurred_at=at)


def completed_event(order: FulfilledOrder, by: CompletedBy, at: datetime) -> OrderCompleted:
    return OrderCompleted(**_facts(order.order), by=by, completed_at=at, occurred_at=at)


# --- the buyer's cancel --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelPlan:
    """What a buyer's cancel cancels: these (line_no, quantity), the whole order or only what was left to ship."""

    lines: list[tuple[int, int]]
    whole_order: bool
    reason: str
    # The order's status after the cancel.
    status: OrderStatus


def plan_cancel(order: FulfilledOrder, now: datetime) -> CancelPlan:
    """Before anything shipped: the whole order. Partially shipped and late: what is left to ship. Else refused.

    Only goods are cancelled: an order of local-life vouchers only is refused (the buyer refunds vouchers at
    local_life); an order of goods and vouchers cancels its goods before any shipped and stays `paid` (its vouchers
    live on), as an order of vouchers only does.
    """
    if not order.goods:
        raise VouchersRefundInstead(
            "this order buys local-life vouchers only: nothing ships, so refund unused vouchers instead",
            order_status=order.status,
        )
    unshipped = [(ledger.line_no, ledger.to_ship) for ledger in order.goods if ledger.to_ship > 0]
    if order.status == OrderStatus.PAID and order.shipped == 0 and unshipped:
        if len(order.goods) < len(order.ledgers):
            return CancelPlan(unshipped, False, CANCEL_REASON_BUYER, OrderStatus.PAID)
        return CancelPlan(unshipped, True, CANCEL_REASON_BUYER, OrderStatus.CANCELLED)
    if order.status == OrderStatus.PARTIALLY_SHIPPED and unshipped:
        if not is_late(order.status, order.ship_by, order.to_ship, now):
            raise AlreadyShipping(
                "part of this order has shipped; what is left may be cancelled only once it is late",
                order_status=order.status,
                ship_by=order.ship_by.isoformat() if order.ship_by else None,
            )
        return CancelPlan(unshipped, False, CANCEL_REASON_LATE, OrderStatus.SHIPPED)
    if order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        raise NothingToCancel(
            "every unit of this order has shipped or was cancelled; open an after-sales case instead",
            order_status=order.status,
        )
    raise OrderNotCancellable(f"an order that is {order.status} cannot be cancelled", order_status=order.status)


def cancelled_after_payment_event(
    order: FulfilledOrder, plan: CancelPlan, grant_id: str, at: datetime
) -> OrderCancelledAfterPayment:
    by_line = {ledger.line_no: ledger for ledger in order.ledgers}
    return OrderCancelledAfterPayment(
        **_facts(order.order),
        reason=plan.reason,
        cancelled_lines=[
            CancelledLine(line_no=n, sku_id=by_line[n].sku_id, quantity=q, flash_sale_id=by_line[n].flash_sale_id)
            for n, q in plan.lines
        ],
        whole_order=plan.whole_order,
        grant_id=grant_id,
        occurred_at=at,
    )


# --- the carrier's callback ----------------------------------------------------------------------------------------


def carrier_signature(payload: bytes, secret: str, at: int) -> str:
    """The header value a carrier sends: `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`."""
    mac = hmac.new(secret.encode(), f"{at}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={at},v1={mac}"


def verify_carrier_signature(payload: bytes, header: str | None, secret: str, tolerance_s: int, now: float) -> None:
    """Raise InvalidCarrierSignature unless `header` signs `payload` with `secret`, dated within `tolerance_s` of
    `now` (unix seconds) either way."""
    if not header:
        raise InvalidCarrierSignature()
    stamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t":
            stamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(stamps) != 1 or not stamps[0].isascii() or not stamps[0].isdigit() or not signatures:
        raise InvalidCarrierSignature()
    at = int(stamps[0])
    if abs(now - at) > max(tolerance_s, 1):
        raise InvalidCarrierSignature(f"the {CARRIER_SIGNATURE_HEADER} timestamp is outside the tolerance")
    expected = carrier_signature(payload, secret, at).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected.encode(), s.encode("utf-8", "replace")) for s in signatures):
        raise InvalidCarrierSignature()
