"""Flash-sale admissions as orders: one checkout and order each, at the sale price, payable for pay_within_s."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import Admission, FlashSaleAdmitted
from libs.errors import DomainError
from libs.ids import derived_id
from services.orders import domain
from services.orders.domain.flash_sales import admitted_orders

AT = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def admission(quantity: int = 1, **overrides: object) -> Admission:
    fields: dict[str, object] = dict(
        admission_id=str(uuid.uuid4()),
        order_id=str(uuid.uuid4()),
        buyer_id=f"buyer-{uuid.uuid4().hex[:6]}",
        quantity=quantity,
        admitted_at=AT,
    )
    return Admission(**(fields | overrides))  # type: ignore[arg-type]


def batch(*admissions: Admission, **overrides: object) -> FlashSaleAdmitted:
    fields: dict[str, object] = dict(
        sale_id=str(uuid.uuid4()),
        room_id="room-9",
        merchant_id=str(uuid.uuid4()),
        sku_id=str(uuid.uuid4()),
        product_id=str(uuid.uuid4()),
        title="Matcha",
        sku_name="30 g",
        unit_price_minor=990,
        currency="usd",
        pay_within_s=300,
        admissions=list(admissions),
    )
    return FlashSaleAdmitted(**(fields | overrides))  # type: ignore[arg-type]


def test_each_admission_is_its_own_checkout_with_the_order_id_the_buyer_holds() -> None:
    first, second = admission(2), admission(1, admitted_at=AT + timedelta(seconds=1))
    event = batch(first, second)
    made, refused = admitted_orders(event, derived_id)
    assert refused == []
    assert [m.order.order_id for m in made] == [first.order_id, second.order_id]
    assert [m.buyer_id for m in made] == [first.buyer_id, second.buyer_id]
    assert [m.pay_by for m in made] == [AT + timedelta(seconds=300), AT + timedelta(seconds=301)]
    assert len({m.plan.checkout_id for m in made}) == 2
    (line,) = made[0].order.lines
    assert (line.quantity, line.unit_price_minor, line.amount_minor, line.room_id) == (2, 990, 1980, "room-9")
    assert (line.flash_sale_id, line.admission_id) == (event.sale_id, first.admission_id)
    assert (made[0].order.merchant_id, made[0].order.currency, made[0].plan.amount_minor) == (
        event.merchant_id,
        "USD",
        1980,
    )


def test_the_same_admission_always_names_the_same_checkout_and_payment() -> None:
    a = admission()
    (one,), _ = admitted_orders(batch(a), derived_id)
    (two,), _ = admitted_orders(batch(a), derived_id)
    assert (one.plan.checkout_id, one.plan.payment_id) == (two.plan.checkout_id, two.plan.payment_id)


def test_an_admission_repeated_in_a_batch_is_one_order() -> None:
    a = admission()
    made, refused = admitted_orders(batch(a, a), derived_id)
    assert (len(made), refused) == (1, [])


def test_a_bad_admission_is_refused_alone_and_the_rest_still_become_orders() -> None:
    good = admission()
    bad = [admission(0), admission(order_id="not-a-uuid"), admission(buyer_id="")]
    made, refused = admitted_orders(batch(good, *bad), derived_id)
    assert [m.order.order_id for m in made] == [good.order_id]
    assert [r.admission for r in refused] == bad


@pytest.mark.parametrize(
    "overrides", [{"sale_id": "sale-1"}, {"unit_price_minor": -1}, {"pay_within_s": -5}, {"currency": "dollars"}]
)
def test_a_sale_no_order_could_come_from_refuses_the_whole_batch(overrides: dict[str, object]) -> None:
    with pytest.raises(DomainError):
        admitted_orders(batch(admission(), **overrides), derived_id)


def test_events_of_a_flash_sale_order_name_the_sale_and_the_admission() -> None:
    a = admission()
    event = batch(a)
    (made,), _ = admitted_orders(event, derived_id)
    placed = domain.placed_event(made.plan, made.order, made.buyer_id, made.pay_by, AT)
    assert (placed.order_id, placed.payment_id, placed.pay_by) == (a.order_id, made.plan.payment_id, made.pay_by)
    assert [(ln.flash_sale_id, ln.admission_id) for ln in placed.lines] == [(event.sale_id, a.admission_id)]
