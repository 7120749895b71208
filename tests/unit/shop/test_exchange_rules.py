"""Exchange requests: what is refused before any I/O, and how a repeat is answered."""

from __future__ import annotations

import uuid

import pytest

from libs.contracts import ExchangeStock, ExchangeStockReply
from services.shop.domain.exchanges import (
    ExchangeRefused,
    Replacement,
    StoredExchange,
    check_request,
    ensure_available,
    ensure_replacement,
    replay_take,
)
from services.shop.domain.stock import SkuFacts

MERCHANT, PRODUCT, SKU = (str(uuid.uuid4()) for _ in range(3))


def request(**changes: object) -> ExchangeStock:
    fields: dict = dict(
        exchange_id="case-1", merchant_id=MERCHANT, product_id=PRODUCT, sku_id=SKU, quantity=1, action="take"
    )
    return ExchangeStock(**(fields | changes))


def refusal(call) -> tuple[str, int | None]:
    with pytest.raises(ExchangeRefused) as raised:
        call()
    assert raised.value.detail
    return raised.value.error, raised.value.available


def facts(merchant_id: str = MERCHANT, product_id: str = PRODUCT) -> SkuFacts:
    return SkuFacts(
        sku_id=SKU,
        product_id=product_id,
        merchant_id=merchant_id,
        title="Tee",
        sku_name="M",
        price_minor=100,
        currency="USD",
        published=True,
    )


@pytest.mark.parametrize(
    "changes",
    [{"action": "swap"}, {"exchange_id": ""}, {"exchange_id": "x" * 201}, {"quantity": 0}, {"quantity": 10**7}],
)
def test_malformed_requests_are_invalid(changes: dict) -> None:
    assert refusal(lambda: check_request(request(**changes))) == ("invalid_request", None)


def test_ids_that_name_nothing_are_an_unknown_sku() -> None:
    assert refusal(lambda: check_request(request(sku_id="nope"))) == ("unknown_sku", None)
    assert refusal(lambda: check_request(request(merchant_id="nope"))) == ("unknown_sku", None)
    assert check_request(request(sku_id=SKU.upper())).sku_id == SKU


def test_a_replacement_must_be_the_merchants_and_of_the_same_product() -> None:
    wanted = check_request(request())
    ensure_replacement(wanted, facts())
    assert refusal(lambda: ensure_replacement(wanted, None)) == ("unknown_sku", None)
    assert refusal(lambda: ensure_replacement(wanted, facts(merchant_id=str(uuid.uuid4())))) == ("unknown_sku", None)
    assert refusal(lambda: ensure_replacement(wanted, facts(product_id=str(uuid.uuid4())))) == (
        "not_same_product",
        None,
    )
    assert refusal(lambda: ensure_available(Replacement("c", MERCHANT, PRODUCT, SKU, 3), 2)) == (
        "insufficient_stock",
        2,
    )


def test_a_repeated_take_is_ok_only_for_the_same_replacement_still_taken() -> None:
    wanted = check_request(request(quantity=2))
    taken = StoredExchange("case-1", MERCHANT, SKU, 2, "taken", True)
    assert replay_take(taken, wanted) == ExchangeStockReply(ok=True)
    for other in (
        StoredExchange("case-1", MERCHANT, SKU, 1, "taken", True),
        StoredExchange("case-1", MERCHANT, str(uuid.uuid4()), 2, "taken", True),
        StoredExchange("case-1", MERCHANT, SKU, 2, "released", True),
    ):
        assert refusal(lambda other=other: replay_take(other, wanted)) == ("exchange_conflict", None)
