"""Checkout sells local-life deals: a deal item is held at local_life (all or nothing with the goods held at shop),
priced and paid like goods, and becomes an order line that is never shipped; its vouchers issued count it shipped."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from tests.harness import Infra, Stack, assert_problem, eventually
from tests.integration.live.support import create_room
from tests.integration.local_life.support import merchant, new_deal, new_store
from tests.integration.orders.support import Buyer, checkout, new_buyer, new_seller, pay_checkout, stock

SERVICES = ("shop", "live", "local_life", "orders")


async def deal_of(stack: Stack, **fields: Any) -> tuple[str, str, dict[str, Any]]:
    """A merchant's published deal (USD 99.00 unless told) sold at one store: (merchant_id, merchant token, deal)."""
    merchant_id, token = merchant(stack)
    store = await new_store(stack, token)
    fields = {"currency": "USD", "store_ids": [store["store_id"]]} | fields
    return merchant_id, token, await new_deal(stack, token, publish=True, **fields)


async def remaining(stack: Stack, deal_id: str) -> int:
    async with stack.client("local_life") as client:
        found = await client.get(f"/deals/{deal_id}")
    assert found.status_code == 200, found.text
    return found.json()["remaining"]


async def vouchers_of(stack: Stack, buyer: Buyer, count: int) -> list[dict[str, Any]]:
    """The buyer's vouchers at local_life once there are `count` of them."""
    token = stack.infra.token("buyer", sub=buyer.buyer_id)

    async def found() -> list[dict[str, Any]] | None:
        async with stack.client("local_life", token) as client:
            page = await client.get("/vouchers")
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        return items if len(items) >= count else None

    return await eventually(found, timeout=15)


async def order_of(buyer: Buyer, order_id: str) -> dict[str, Any]:
    found = await buyer.client.get(f"/orders/{order_id}")
    assert found.status_code == 200, found.text
    return found.json()


async def test_a_deal_bought_in_a_room_is_paid_its_vouchers_issued_and_its_line_counted_shipped(
    stack: Stack, infra: Infra
) -> None:
    merchant_id, token, deal = await deal_of(stack)
    room = await create_room(stack, infra, merchant_id=merchant_id)
    buyer = new_buyer(stack)
    paid = await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 2, "room_id": room.room_id}])

    assert paid["amount_minor"] == 19800
    (placed,) = paid["orders"]
    assert placed["merchant_id"] == merchant_id
    (line,) = placed["lines"]
    assert line["deal_id"] == line["sku_id"] == line["product_id"] == deal["deal_id"]
    assert (line["title"], line["sku_name"], line["quantity"]) == (deal["title"], "voucher", 2)
    assert (line["unit_price_minor"], line["amount_minor"], line["room_id"]) == (9900, 19800, room.room_id)
    assert line["room_verified"] is True
    assert line["team_id"] is None

    vouchers = await vouchers_of(stack, buyer, 2)
    assert {(v["order_id"], v["line_no"], v["deal_id"], v["room_id"]) for v in vouchers} == {
        (placed["order_id"], 0, deal["deal_id"], room.room_id)
    }

    async def shipped() -> dict[str, Any] | None:
        order = await order_of(buyer, placed["order_id"])
        return order if order["lines"][0]["ledger"]["shipped"] == 2 else None

    order = await eventually(shipped, timeout=15)
    # Nothing ever ships: no deadline, never late, still `paid`, and all of it refundable.
    assert order["status"] == "paid"
    assert (order["ship_by"], order["late"]) == (None, False)
    ledger = order["lines"][0]["ledger"]
    assert (ledger["ordered"], ledger["to_ship"], ledger["refundable"]) == (2, 0, 2)
    async with stack.client("orders", token) as seller:
        queue = await seller.get("/seller/orders/to-ship")
    assert queue.status_code == 200, queue.text
    assert queue.json()["items"] == []
    await buyer.client.aclose()


async def test_a_mixed_cart_whose_deal_is_sold_out_is_refused_and_shop_releases_the_goods(stack: Stack) -> None:
    seller = await new_seller(stack, 1500, stock=5)
    _, _, deal = await deal_of(stack, total_quantity=1)
    buyer = new_buyer(stack)
    items = [{"sku_id": seller.sku_id, "quantity": 2}, {"deal_id": deal["deal_id"], "quantity": 2}]
    async with buyer.client:
        refused = await checkout(buyer.client, items)
        body = assert_problem(refused, 409, "deal-sold-out", "items[1].quantity")
        assert body["available"] == 1
        assert (await buyer.client.get("/orders")).json()["items"] == []

    async def released() -> bool:
        return await stock(stack, seller, seller.sku_id) == (5, 0)

    # shop held the goods before local_life refused: the abandoned checkout gives them back at once.
    await eventually(released, timeout=15)
    assert await remaining(stack, deal["deal_id"]) == 1


async def test_a_deal_past_its_per_buyer_limit_is_refused_naming_the_item(stack: Stack, db: asyncpg.Connection) -> None:
    seller = await new_seller(stack, 1500, stock=5)
    _, _, deal = await deal_of(stack, per_buyer_limit=2)
    buyer = new_buyer(stack)
    items = [{"sku_id": seller.sku_id, "quantity": 1}, {"deal_id": deal["deal_id"], "quantity": 3}]
    async with buyer.client:
        body = assert_problem(await checkout(buyer.client, items), 409, "deal-buyer-limit", "items[1].quantity")
        assert (body["limit"], body["held"]) == (2, 0)
        # Within the limit the same cart goes through, goods and deal in one order each (two merchants).
        placed = await checkout(buyer.client, [items[0], {"deal_id": deal["deal_id"], "quantity": 2}])
        assert placed.status_code == 201, placed.text
        assert sorted(len(o["lines"]) for o in placed.json()["orders"]) == [1, 1]
        # local_life counts the units this buyer holds unpaid: 2 already.
        again = await checkout(buyer.client, [{"deal_id": deal["deal_id"], "quantity": 1}])
        body = assert_problem(again, 409, "deal-buyer-limit", "items[0].quantity")
        assert (body["limit"], body["held"]) == (2, 2)
    assert await db.fetchval("SELECT count(*) FROM orders.checkouts WHERE buyer_id = $1", buyer.buyer_id) == 1


async def test_an_item_names_exactly_one_of_sku_and_deal(stack: Stack) -> None:
    _, _, deal = await deal_of(stack)
    buyer = new_buyer(stack)
    async with buyer.client:
        neither = await checkout(buyer.client, [{"deal_id": deal["deal_id"], "quantity": 1}, {"quantity": 1}])
        assert_problem(neither, 422, "sku-or-deal", "items[1]")
        both = [{"sku_id": str(uuid.uuid4()), "deal_id": deal["deal_id"], "quantity": 1}]
        assert_problem(await checkout(buyer.client, both), 422, "sku-or-deal", "items[0]")
        unknown = await checkout(buyer.client, [{"deal_id": str(uuid.uuid4()), "quantity": 1}])
        assert_problem(unknown, 400, "unknown-deal", "items[0].deal_id")
        priced = await checkout(buyer.client, [{"deal_id": deal["deal_id"], "quantity": 1, "price_minor": 1}])
        assert priced.status_code == 400, priced.text


async def test_a_deal_line_is_never_shipped_nor_cancelled(stack: Stack) -> None:
    _, token, deal = await deal_of(stack)
    buyer = new_buyer(stack)
    paid = await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 1}])
    order_id = paid["orders"][0]["order_id"]
    async with stack.client("orders", token) as seller:
        named = await seller.post(
            f"/seller/orders/{order_id}/shipments",
            json={"carrier": "ups", "tracking_number": uuid.uuid4().hex, "lines": [{"line_no": 0, "quantity": 1}]},
        )
        assert_problem(named, 422, "line-not-shippable", "lines[0].line_no")
        everything = await seller.post(
            f"/seller/orders/{order_id}/shipments", json={"carrier": "ups", "tracking_number": uuid.uuid4().hex}
        )
        assert assert_problem(everything, 409, "order-not-shippable")["order_status"] == "paid"
    cancelled = await buyer.client.post(f"/orders/{order_id}/cancel")
    assert assert_problem(cancelled, 409, "vouchers-refund-instead")["order_status"] == "paid"
    order = await order_of(buyer, order_id)
    assert (order["status"], order["shipments"], order["refunds"]) == ("paid", [], [])
    await buyer.client.aclose()


async def test_cancelling_an_order_of_goods_and_vouchers_cancels_the_goods_only(stack: Stack) -> None:
    seller = await new_seller(stack, 1500, stock=5)
    # The same merchant sells goods at shop and a deal at local_life: one order of both.
    store = await new_store(stack, seller.token)
    deal = await new_deal(stack, seller.token, publish=True, currency="USD", store_ids=[store["store_id"]])
    buyer = new_buyer(stack)
    paid = await pay_checkout(
        stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 1}, {"sku_id": seller.sku_id, "quantity": 2}]
    )
    (placed,) = paid["orders"]
    # In cart order, whoever held them.
    assert [line["deal_id"] for line in placed["lines"]] == [deal["deal_id"], None]
    assert placed["amount_minor"] == 3000 + 9900
    cancelled = await buyer.client.post(f"/orders/{placed['order_id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    order = cancelled.json()
    # The goods are cancelled and refunded; the vouchers live on, so the order stays paid with nothing to ship.
    assert (order["status"], order["late"]) == ("paid", False)
    assert [line["ledger"]["cancelled"] for line in order["lines"]] == [0, 2]
    assert [(r["origin"], r["amount_minor"]) for r in order["refunds"]] == [("cancel", 3000)]
    async with stack.client("orders", seller.token) as client:
        assert (await client.get("/seller/orders/to-ship")).json()["items"] == []
    await buyer.client.aclose()
