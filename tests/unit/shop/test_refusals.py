"""Shop's refusals answer as they always have: the same status, problem type, field and extra members."""

from __future__ import annotations

import pytest

from libs.errors import DomainError
from libs.web.problems import TYPE_PREFIX, problem_members
from services.shop.domain.catalogue import check_new_skus, plan_sku_edit
from services.shop.domain.refusals import CartItemNotFound, MerchantNotFound, ProductNotFound, SkuNotFound


def _refusal(call) -> DomainError:
    with pytest.raises(DomainError) as raised:
        call()
    return raised.value


def test_stock_may_not_drop_below_what_buyers_hold() -> None:
    refusal = _refusal(
        lambda: plan_sku_edit(price_minor=100, stock_on_hand=10, stock_reserved=4, new_price=None, new_on_hand=3)
    )
    body = problem_members(refusal)
    assert (body["status"], body["type"], body["field"]) == (409, TYPE_PREFIX + "stock-below-reserved", "stock_on_hand")
    assert body["stock_reserved"] == 4
    assert body["detail"] == "4 units are reserved by buyers; stock on hand cannot go below that"


def test_stock_down_to_exactly_what_buyers_hold_is_an_edit() -> None:
    edits = plan_sku_edit(price_minor=100, stock_on_hand=10, stock_reserved=4, new_price=100, new_on_hand=4)
    assert [(e.field, e.old_value, e.new_value) for e in edits] == [("stock_on_hand", 10, 4)]


def test_a_sku_priced_in_another_currency_is_refused_naming_it() -> None:
    body = problem_members(_refusal(lambda: check_new_skus("EUR", [("Blue", None), ("Red", "USD")])))
    assert (body["status"], body["type"], body["field"]) == (422, TYPE_PREFIX + "currency-mismatch", "skus[1].currency")
    assert body["detail"] == "this merchant sells in EUR; SKU 'Red' is priced in USD"


def test_two_skus_of_one_name_are_refused_naming_the_second() -> None:
    body = problem_members(_refusal(lambda: check_new_skus("USD", [("M", None), ("M", "USD")])))
    assert (body["status"], body["type"], body["field"]) == (422, TYPE_PREFIX + "duplicate-sku-name", "skus[1].name")


@pytest.mark.parametrize(
    ("refusal", "code"),
    [
        (MerchantNotFound, "merchant-not-found"),
        (ProductNotFound, "product-not-found"),
        (SkuNotFound, "sku-not-found"),
        (CartItemNotFound, "cart-item-not-found"),
    ],
)
def test_unknown_things_are_404_with_their_own_type(refusal: type[DomainError], code: str) -> None:
    body = problem_members(refusal("no such thing"))
    assert (body["status"], body["type"]) == (404, TYPE_PREFIX + code)
