"""Pure rules for flash-sale admissions: each becomes its own checkout with one order of one line, at the sale price."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from libs.contracts import Admission, FlashSaleAdmitted, OrderLine
from libs.ids import canonical_uuid
from services.orders.domain import CheckoutPlan, PlannedOrder
from services.orders.domain.refusals import UnusableEvent


@dataclass(frozen=True)
class AdmittedOrder:
    """One admission as orders keeps it: a checkout of its own, so it is paid (or lapses) on its own."""

    plan: CheckoutPlan
    buyer_id: str
    admitted_at: datetime
    pay_by: datetime

    @property
    def order(self) -> PlannedOrder:
        return self.plan.orders[0]


@dataclass(frozen=True)
class RefusedAdmission:
    admission: Admission
    reason: str


def checkout_id_of(admission_id: str, derive: Callable[..., str]) -> str:
    """The checkout an admission becomes: named after the admission, so a redelivery names the same one."""
    return derive("flash-sale", admission_id)


def admitted_orders(
    event: FlashSaleAdmitted, derive: Callable[..., str]
) -> tuple[list[AdmittedOrder], list[RefusedAdmission]]:
    """Per admission a checkout and an order (id chosen by live) payable until admitted_at + pay_within_s.

    A batch holds many buyers' units: an admission that cannot become an order comes back refused (the caller
    logs it) instead of holding up the rest. A sale-level fault refuses the whole event (UnusableEvent).
    """
    sale_id, merchant_id = canonical_uuid(event.sale_id), canonical_uuid(event.merchant_id)
    sku_id, product_id = canonical_uuid(event.sku_id), canonical_uuid(event.product_id)
    if not (sale_id and merchant_id and sku_id and product_id):
        raise UnusableEvent("sale_id, merchant_id, sku_id and product_id must be UUIDs")
    if event.unit_price_minor < 0 or event.pay_within_s < 0 or len(event.currency) != 3:
        raise UnusableEvent("a flash sale needs a price >= 0, pay_within_s >= 0 and an ISO currency")
    currency = event.currency.upper()
    admitted: list[AdmittedOrder] = []
    refused: list[RefusedAdmission] = []
    seen: set[str] = set()
    for admission in event.admissions:
        admission_id, order_id = canonical_uuid(admission.admission_id), canonical_uuid(admission.order_id)
        if not admission_id or not order_id:
            refused.append(RefusedAdmission(admission, "admission_id and order_id must be UUIDs"))
            continue
        if admission.quantity < 1 or not admission.buyer_id:
            refused.append(RefusedAdmission(admission, "an admission needs a buyer and a quantity >= 1"))
            continue
        if admission_id in seen or order_id in seen:
            continue  # the same admission twice in one batch is still one order
        seen.update((admission_id, order_id))
        line = OrderLine(
            sku_id=sku_id,
            product_id=product_id,
            title=event.title,
            sku_name=event.sku_name,
            quantity=admission.quantity,
            unit_price_minor=event.unit_price_minor,
            amount_minor=event.unit_price_minor * admission.quantity,
            room_id=event.room_id or None,
            flash_sale_id=sale_id,
            admission_id=admission_id,
        )
        checkout_id = checkout_id_of(admission_id, derive)
        order = PlannedOrder(order_id=order_id, merchant_id=merchant_id, currency=currency, lines=[line])
        plan = CheckoutPlan(
            checkout_id=checkout_id,
            payment_id=derive(checkout_id, "payment"),
            orders=[order],
            room_id=line.room_id,
        )
        pay_by = admission.admitted_at + timedelta(seconds=event.pay_within_s)
        admitted.append(AdmittedOrder(plan, admission.buyer_id, admission.admitted_at, pay_by))
    return admitted, refused
