"""Replacement stock for after-sales exchanges over NATS request/reply (`rpc.shop.stock.exchange.v1`), as
aftersales asks: check at opening, take when the return is received, release if the case turns into a refund."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from libs.contracts import EXCHANGE_STOCK, ExchangeStock, ExchangeStockReply, StockChanged
from tests.harness import Infra, Stack, eventually
from tests.integration.shop.support import Seller, capture, reserve, seller

SERVICES = ("shop",)


async def exchange(
    stack: Stack,
    s: Seller,
    action: str,
    quantity: int = 1,
    *,
    exchange_id: str | None = None,
    sku: int = 0,
    sku_id: str | None = None,
    product_id: str | None = None,
    merchant_id: str | None = None,
    answer_within_s: float | None = None,
) -> ExchangeStockReply:
    """Ask shop over its public NATS contract, as aftersales does for an exchange case."""
    request = ExchangeStock(
        exchange_id=str(uuid.uuid4()) if exchange_id is None else exchange_id,
        merchant_id=merchant_id or s.merchant_id,
        product_id=product_id or s.product["product_id"],
        sku_id=sku_id or s.sku_ids[sku],
        quantity=quantity,
        action=action,
        answer_by=None if answer_within_s is None else stack.clock.now() + timedelta(seconds=answer_within_s),
    )
    return await stack.apps["shop"].runtime.bus.request(EXCHANGE_STOCK, request, ExchangeStockReply)


async def history(s: Seller, sku: int = 0) -> list[tuple]:
    """The SKU's stock history other than the merchant's edits: (old, new, reason, ref)."""
    async with s.stack.client("shop", s.token) as client:
        response = await client.get(f"/seller/skus/{s.sku_ids[sku]}/changes")
    assert response.status_code == 200, response.text
    return [
        (c["old_value"], c["new_value"], c["reason"], c["ref"])
        for c in response.json()["items"]
        if c["reason"] != "edit"
    ]


# --- check ---------------------------------------------------------------------------------


async def test_check_answers_whether_a_sku_of_the_same_product_can_replace(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5, 2)
    assert await exchange(stack, s, "check", 2, sku=1) == ExchangeStockReply(ok=True, available=2)

    short = await exchange(stack, s, "check", 3, sku=1)
    assert (short.ok, short.error, short.available) == (False, "insufficient_stock", 2)
    assert short.detail
    assert await s.stock() == [(5, 0), (2, 0)]  # a check changes nothing
    assert await history(s) == []


async def test_check_refuses_a_sku_of_another_product_or_merchant(stack: Stack, infra: Infra) -> None:
    s, stranger = await seller(stack, infra, 5), await seller(stack, infra, 5)
    async with stack.client("shop", s.token) as client:
        response = await client.post(
            "/seller/products", json={"title": "Mug", "skus": [{"name": "White", "price_minor": 900, "stock": 4}]}
        )
    assert response.status_code == 201, response.text
    mug_sku = response.json()["skus"][0]["sku_id"]

    other_product = await exchange(stack, s, "check", sku_id=mug_sku)
    assert (other_product.ok, other_product.error) == (False, "not_same_product")
    # Another merchant's SKU looks exactly like a missing one.
    foreign = await exchange(stack, s, "check", sku_id=stranger.sku_ids[0], product_id=stranger.product["product_id"])
    missing = await exchange(stack, s, "check", sku_id=str(uuid.uuid4()))
    malformed = await exchange(stack, s, "check", sku_id="not-a-sku")
    assert [(r.ok, r.error) for r in (foreign, missing, malformed)] == [(False, "unknown_sku")] * 3
    bad = [
        await exchange(stack, s, "check", 0),
        await exchange(stack, s, "swap"),
        await exchange(stack, s, "check", exchange_id=""),
    ]
    assert [(r.ok, r.error) for r in bad] == [(False, "invalid_request")] * 3


# --- take ----------------------------------------------------------------------------------


async def test_take_takes_the_units_off_hand_once_however_often_asked(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5, 3)
    changes, stop = await capture(stack, StockChanged.SUBJECT)
    try:
        exchange_id = str(uuid.uuid4())
        first = await exchange(stack, s, "take", 2, exchange_id=exchange_id, sku=1)
        again = await exchange(stack, s, "take", 2, exchange_id=exchange_id, sku=1)
        assert (first, again) == (ExchangeStockReply(ok=True, available=1), ExchangeStockReply(ok=True))
        assert await s.stock() == [(5, 0), (1, 0)]
        assert await history(s, 1) == [(3, 1, "exchange_taken", exchange_id)]
        announced = await eventually(lambda: [c for c in changes if c["sku_id"] == s.sku_ids[1]])
        assert [(c["stock_on_hand"], c["stock_available"]) for c in announced] == [(1, 1)]

        # The same id for another replacement is refused, changing nothing.
        other_quantity = await exchange(stack, s, "take", 1, exchange_id=exchange_id, sku=1)
        other_sku = await exchange(stack, s, "take", 2, exchange_id=exchange_id, sku=0)
        assert [(r.ok, r.error) for r in (other_quantity, other_sku)] == [(False, "exchange_conflict")] * 2
        assert await s.stock() == [(5, 0), (1, 0)]
    finally:
        await stop()


async def test_take_needs_available_units_and_a_refused_take_may_be_tried_again(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 3)
    assert (await reserve(stack, [(s.sku_ids[0], 2)])).ok  # units buyers hold are not there to give away
    exchange_id = str(uuid.uuid4())
    short = await exchange(stack, s, "take", 2, exchange_id=exchange_id)
    assert (short.ok, short.error, short.available) == (False, "insufficient_stock", 1)
    assert await s.stock() == [(3, 2)]

    async with stack.client("shop", s.token) as client:
        assert (await client.patch(f"/seller/skus/{s.sku_ids[0]}", json={"stock_on_hand": 4})).status_code == 200
    assert (await exchange(stack, s, "take", 2, exchange_id=exchange_id)).ok
    assert await s.stock() == [(2, 2)]


async def test_a_take_the_caller_stopped_waiting_for_takes_nothing(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 3)
    late = await exchange(stack, s, "take", 1, answer_within_s=-1)
    assert (late.ok, late.error) == (False, "too_late")
    assert await s.stock() == [(3, 0)]


async def test_concurrent_takes_of_the_last_unit_give_it_to_one(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 1)
    replies = await asyncio.gather(*(exchange(stack, s, "take", 1) for _ in range(8)))
    assert sorted((r.ok, r.error) for r in replies) == [(False, "insufficient_stock")] * 7 + [(True, None)]
    assert await s.stock() == [(0, 0)]
    assert len(await history(s)) == 1


async def test_concurrent_repeats_of_one_take_take_once(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    exchange_id = str(uuid.uuid4())
    replies = await asyncio.gather(*(exchange(stack, s, "take", 2, exchange_id=exchange_id) for _ in range(8)))
    assert [r.ok for r in replies] == [True] * 8
    assert await s.stock() == [(3, 0)]
    assert await history(s) == [(5, 3, "exchange_taken", exchange_id)]


# --- release -------------------------------------------------------------------------------


async def test_release_gives_a_taken_exchanges_units_back_once(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    exchange_id = str(uuid.uuid4())
    assert (await exchange(stack, s, "take", 2, exchange_id=exchange_id)).ok
    assert await s.stock() == [(3, 0)]

    released = await exchange(stack, s, "release", 2, exchange_id=exchange_id)
    again = await exchange(stack, s, "release", 2, exchange_id=exchange_id)
    assert (released, again) == (ExchangeStockReply(ok=True, available=5), ExchangeStockReply(ok=True))
    assert await s.stock() == [(5, 0)]
    assert await history(s) == [(5, 3, "exchange_taken", exchange_id), (3, 5, "exchange_released", exchange_id)]

    # The case became a refund: a take of that exchange arriving now is stale and takes nothing.
    stale = await exchange(stack, s, "take", 2, exchange_id=exchange_id)
    assert (stale.ok, stale.error) == (False, "exchange_conflict")
    assert await s.stock() == [(5, 0)]


async def test_releasing_an_exchange_never_taken_is_ok_and_a_later_take_takes_nothing(
    stack: Stack, infra: Infra
) -> None:
    s = await seller(stack, infra, 5)
    exchange_id = str(uuid.uuid4())
    assert await exchange(stack, s, "release", 2, exchange_id=exchange_id) == ExchangeStockReply(ok=True)
    assert await exchange(stack, s, "release", 1, sku_id=str(uuid.uuid4())) == ExchangeStockReply(ok=True)
    assert await s.stock() == [(5, 0)]

    late = await exchange(stack, s, "take", 2, exchange_id=exchange_id)
    assert (late.ok, late.error) == (False, "exchange_conflict")
    assert await s.stock() == [(5, 0)]
    assert await history(s) == []


async def test_a_release_naming_another_replacement_than_the_take_is_refused(stack: Stack, infra: Infra) -> None:
    s = await seller(stack, infra, 5)
    exchange_id = str(uuid.uuid4())
    assert (await exchange(stack, s, "take", 2, exchange_id=exchange_id)).ok
    wrong = await exchange(stack, s, "release", 3, exchange_id=exchange_id)
    assert (wrong.ok, wrong.error) == (False, "exchange_conflict")
    assert await s.stock() == [(3, 0)]
