"""Buyer carts over real HTTP: own lines only, prices from the catalogue, attribution to a room."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from libs.contracts import RESERVE_STOCK, OrderLine, OrderPlaced, ReserveItem, ReserveStock, ReserveStockReply
from libs.telemetry import names
from tests.harness import Infra, Stack, assert_problem, eventually, onboard_merchant

SERVICES = ("shop",)


async def product(stack: Stack, infra: Infra) -> dict[str, Any]:
    """A published product with SKUs M (2599, 10 in stock) and L (2799, 3 in stock)."""
    _, token = await onboard_merchant(stack, name="Acme")
    body = {
        "title": "Linen Shirt",
        "skus": [{"name": "M", "price_minor": 2599, "stock": 10}, {"name": "L", "price_minor": 2799, "stock": 3}],
    }
    async with stack.client("shop", token) as merchant:
        response = await merchant.post("/seller/products", json=body)
    assert response.status_code == 201
    return response.json()


async def test_buyer_adds_updates_and_removes_cart_lines(stack: Stack, infra: Infra) -> None:
    p = await product(stack, infra)
    m, large = p["skus"][0]["sku_id"], p["skus"][1]["sku_id"]
    async with stack.client("shop", infra.token("buyer")) as buyer:
        assert (await buyer.get("/cart")).json() == {"items": []}
        added = await buyer.post("/cart/items", json={"sku_id": m, "quantity": 2})
        second = await buyer.post("/cart/items", json={"sku_id": large, "quantity": 1})
        changed = await buyer.post("/cart/items", json={"sku_id": m, "quantity": 5})
        cart = (await buyer.get("/cart")).json()["items"]
        removed = await buyer.delete(f"/cart/items/{large}")
        again = await buyer.delete(f"/cart/items/{large}")
        after = (await buyer.get("/cart")).json()["items"]
    assert (added.status_code, second.status_code, changed.status_code) == (201, 201, 200)
    assert changed.json()["quantity"] == 5
    assert [(i["sku_id"], i["quantity"], i["unit_price_minor"], i["stock_available"]) for i in cart] == [
        (m, 5, 2599, 10),
        (large, 1, 2799, 3),
    ]
    first = cart[0]
    assert (first["product_id"], first["title"], first["sku_name"], first["currency"]) == (
        p["product_id"],
        "Linen Shirt",
        "M",
        "USD",
    )
    assert first["source"] is None
    assert removed.status_code == 204
    assert again.status_code == 404
    assert [i["sku_id"] for i in after] == [m]


async def test_another_buyer_sees_only_their_own_cart(stack: Stack, infra: Infra) -> None:
    p = await product(stack, infra)
    sku_id = p["skus"][0]["sku_id"]
    async with stack.client("shop", infra.token("buyer")) as alice:
        assert (await alice.post("/cart/items", json={"sku_id": sku_id, "quantity": 1})).status_code == 201
    async with stack.client("shop", infra.token("buyer")) as bob:
        assert (await bob.get("/cart")).json() == {"items": []}
        assert (await bob.delete(f"/cart/items/{sku_id}")).status_code == 404


async def test_the_cart_shows_the_catalogue_price_and_a_price_sent_by_the_client_is_refused(
    stack: Stack, infra: Infra
) -> None:
    p = await product(stack, infra)
    sku_id = p["skus"][0]["sku_id"]
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    async with stack.client("shop", infra.token("buyer", sub=buyer_id)) as buyer:
        priced = await buyer.post("/cart/items", json={"sku_id": sku_id, "quantity": 1, "unit_price_minor": 1})
        assert_problem(priced, 400, "validation-failed", field="unit_price_minor")
        added = await buyer.post("/cart/items", json={"sku_id": sku_id, "quantity": 1})
        # The merchant reprices after the buyer's line exists: only the merchant's figure may show from now on.
        async with stack.client("shop", infra.token("merchant", merchant_id=p["merchant_id"])) as merchant:
            assert (await merchant.patch(f"/seller/skus/{sku_id}", json={"price_minor": 1999})).status_code == 200
        cart = (await buyer.get("/cart")).json()["items"]
    assert added.status_code == 201, added.text
    assert added.json()["unit_price_minor"] == 2599
    assert [(i["sku_id"], i["unit_price_minor"]) for i in cart] == [(sku_id, 1999)]

    # What the buyer will be charged is priced at checkout, from the same table.
    reply = await stack.apps["shop"].runtime.bus.request(
        RESERVE_STOCK,
        ReserveStock(
            checkout_id=str(uuid.uuid4()),
            buyer_id=buyer_id,
            items=[ReserveItem(sku_id=sku_id, quantity=1)],
            hold_until=stack.clock.now() + timedelta(hours=1),
        ),
        ReserveStockReply,
    )
    assert reply.ok, reply
    assert [line.unit_price_minor for line in reply.lines] == [1999]


async def test_unknown_sku_is_404_naming_the_sku(stack: Stack, infra: Infra) -> None:
    async with stack.client("shop", infra.token("buyer")) as buyer:
        for sku_id in (str(uuid.uuid4()), "not-a-sku"):
            response = await buyer.post("/cart/items", json={"sku_id": sku_id, "quantity": 1})
            assert_problem(response, 404, "sku-not-found", field="sku_id")
        assert (await buyer.get("/cart")).json() == {"items": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": 1000}, "quantity"),
        ({"quantity": "two"}, "quantity"),
        ({"quantity": 1, "source": {"type": "tv", "id": "x"}}, "source.type"),
        ({"quantity": 1, "source": {"type": "room", "id": ""}}, "source.id"),
    ],
    ids=["zero", "too-many", "string", "unknown-source", "empty-source-id"],
)
async def test_invalid_cart_lines_are_refused_naming_the_field(
    stack: Stack, infra: Infra, body: dict[str, Any], field: str
) -> None:
    p = await product(stack, infra)
    async with stack.client("shop", infra.token("buyer")) as buyer:
        response = await buyer.post("/cart/items", json={"sku_id": p["skus"][0]["sku_id"], **body})
        cart = (await buyer.get("/cart")).json()["items"]
    assert_problem(response, 400, field=field)
    assert cart == []


async def test_the_cart_needs_a_buyer_token(stack: Stack, infra: Infra) -> None:
    async with stack.client("shop") as anonymous:
        assert (await anonymous.get("/cart")).status_code == 401
        assert (
            await anonymous.post("/cart/items", json={"sku_id": str(uuid.uuid4()), "quantity": 1})
        ).status_code == 401
    async with stack.client("shop", infra.token("merchant", merchant_id=str(uuid.uuid4()))) as merchant:
        response = await merchant.get("/cart")
    assert_problem(response, 403, "forbidden")


async def test_a_line_added_from_a_room_is_attributed_to_it(stack: Stack, infra: Infra) -> None:
    p = await product(stack, infra)
    m, large = p["skus"][0]["sku_id"], p["skus"][1]["sku_id"]
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    room_id = f"room-{uuid.uuid4().hex[:8]}"
    async with stack.client("shop", infra.token("buyer", sub=buyer_id)) as buyer:
        added = await buyer.post(
            "/cart/items", json={"sku_id": m, "quantity": 1, "source": {"type": "room", "id": room_id}}
        )
        # Changing the quantity later on the cart page keeps the room that sold it.
        await buyer.post("/cart/items", json={"sku_id": m, "quantity": 2})
        await buyer.post("/cart/items", json={"sku_id": large, "quantity": 1, "source": {"type": "search", "id": "q"}})
        cart = (await buyer.get("/cart")).json()["items"]
    # No live runs here: nobody vouched for the room, and the cart says so.
    assert added.json()["source"] == {"type": "room", "id": room_id, "verified": False}
    assert [(i["quantity"], i["source"]) for i in cart] == [
        (2, {"type": "room", "id": room_id, "verified": False}),
        (1, {"type": "search", "id": "q", "verified": False}),
    ]

    spans = [s for s in stack.spans.get_finished_spans() if s.attributes and s.attributes.get(names.ROOM_ID) == room_id]
    assert any(s.attributes.get(names.SKU_ID) == m for s in spans)

    # At checkout the reservation names the room the line came from (unless the checkout names one).
    reply = await stack.apps["shop"].runtime.bus.request(
        RESERVE_STOCK,
        ReserveStock(
            checkout_id=str(uuid.uuid4()),
            buyer_id=buyer_id,
            items=[ReserveItem(sku_id=m, quantity=2), ReserveItem(sku_id=large, quantity=1)],
            hold_until=stack.clock.now() + timedelta(hours=1),
        ),
        ReserveStockReply,
    )
    assert reply.ok
    assert [line.room_id for line in reply.lines] == [room_id, None]


async def test_ordered_skus_leave_the_cart_when_the_order_is_placed(stack: Stack, infra: Infra) -> None:
    p = await product(stack, infra)
    m, large = p["skus"][0]["sku_id"], p["skus"][1]["sku_id"]
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    checkout_id = str(uuid.uuid4())
    async with stack.client("shop", infra.token("buyer", sub=buyer_id)) as buyer:
        await buyer.post("/cart/items", json={"sku_id": m, "quantity": 2})
        await buyer.post("/cart/items", json={"sku_id": large, "quantity": 1})
        runtime = stack.apps["shop"].runtime
        reply = await runtime.bus.request(
            RESERVE_STOCK,
            ReserveStock(
                checkout_id=checkout_id,
                buyer_id=buyer_id,
                items=[ReserveItem(sku_id=m, quantity=2)],
                hold_until=stack.clock.now() + timedelta(hours=1),
            ),
            ReserveStockReply,
        )
        assert reply.ok
        line = reply.lines[0]
        placed = OrderPlaced(
            order_id=str(uuid.uuid4()),
            checkout_id=checkout_id,
            payment_id=str(uuid.uuid4()),
            buyer_id=buyer_id,
            merchant_id=p["merchant_id"],
            lines=[
                OrderLine(
                    sku_id=m,
                    product_id=line.product_id,
                    title=line.title,
                    sku_name=line.sku_name,
                    quantity=2,
                    unit_price_minor=line.unit_price_minor,
                    amount_minor=2 * line.unit_price_minor,
                )
            ],
            amount_minor=2 * line.unit_price_minor,
            currency="USD",
            pay_by=datetime.now(UTC) + timedelta(minutes=15),
        )
        await runtime.bus.publish_event(placed.SUBJECT, msgspec.json.encode(placed), {}, placed.event_id)

        async def only_large_left() -> bool:
            return [i["sku_id"] for i in (await buyer.get("/cart")).json()["items"]] == [large]

        await eventually(only_large_left)
