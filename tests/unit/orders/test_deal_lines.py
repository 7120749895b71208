"""A cart split between shop's goods and local_life's deals, and local_life's refusals as the buyer is told them."""

from __future__ import annotations

import uuid

import pytest

from libs.contracts import ReservedDeal, ReserveDealsReply
from services.orders.domain import deals

SKU, DEAL, TEAM = (str(uuid.uuid4()) for _ in range(3))


def test_a_cart_is_split_by_who_holds_each_item_keeping_the_cart_index() -> None:
    cart = deals.split_cart(
        [
            deals.CartItem(quantity=1, sku_id=SKU),
            deals.CartItem(quantity=2, deal_id=DEAL, room_id="r", team_id=TEAM),
        ]
    )
    assert ([i.sku_id for i in cart.skus], cart.sku_index) == ([SKU], [0])
    assert ([(d.deal_id, d.quantity, d.team_id) for d in cart.deals], cart.deal_index) == ([(DEAL, 2, TEAM)], [1])
    # The holding caps count a deal's units by the deal's id, as goods by the SKU's.
    assert [(k.sku_id, k.quantity) for k in cart.keyed] == [(SKU, 1), (DEAL, 2)]


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (deals.CartItem(quantity=1), "items[1]"),
        (deals.CartItem(quantity=1, sku_id=SKU, deal_id=DEAL), "items[1]"),
        (deals.CartItem(quantity=1, sku_id=SKU, team_id=TEAM), "items[1].team_id"),
    ],
)
def test_an_item_naming_neither_both_or_a_team_on_goods_is_refused_naming_it(item: deals.CartItem, field: str) -> None:
    with pytest.raises(deals.SkuOrDeal) as refused:
        deals.split_cart([deals.CartItem(quantity=1, sku_id=SKU), item])
    assert refused.value.field == field


def test_a_sold_out_deal_names_the_cart_item_and_what_is_left() -> None:
    reply = ReserveDealsReply(ok=False, error="sold_out", detail="sold out", item_index=0, available=3)
    # The deal is the cart's third item (the first two are goods).
    refusal = deals.deals_refused(reply, [2])
    assert isinstance(refusal, deals.DealSoldOut)
    assert (refusal.field, refusal.extra["available"]) == ("items[2].quantity", 3)


def test_a_full_team_names_the_items_team() -> None:
    refusal = deals.deals_refused(ReserveDealsReply(ok=False, error="team_full", item_index=0, available=0), [0])
    assert isinstance(refusal, deals.TeamFull)
    assert refusal.field == "items[0].team_id"


def test_a_deal_line_is_priced_by_local_life_and_never_names_a_sku_of_shop() -> None:
    line = deals.deal_order_line(
        ReservedDeal(
            deal_id=DEAL,
            merchant_id="m",
            title="Spa",
            quantity=2,
            unit_price_minor=4900,
            currency="USD",
            room_id="r",
            team_id=TEAM,
            team_size=3,
        )
    )
    assert (line.sku_id, line.product_id, line.deal_id, line.team_id) == (DEAL, DEAL, DEAL, TEAM)
    assert (line.quantity, line.amount_minor, line.room_id) == (2, 9800, "r")
