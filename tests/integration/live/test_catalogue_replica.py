"""Live's bag fed by the real shop service: products, prices and stock arrive through shop's events."""

from __future__ import annotations

from tests.harness import PROBLEM, Infra, Stack, eventually, onboard_merchant

SERVICES = ("shop", "live")


async def list_product(stack: Stack, merchant_token: str, title: str = "Linen Shirt") -> dict:
    body = {
        "title": title,
        "description": "Breathable summer linen",
        "skus": [
            {"name": "M", "price_minor": 2599, "currency": "USD", "stock": 5},
            {"name": "L", "price_minor": 2799, "currency": "USD", "stock": 2},
        ],
    }
    async with stack.client("shop", merchant_token) as seller:
        response = await seller.post("/seller/products", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def bag(stack: Stack, room_id: str) -> list[dict]:
    async with stack.client("live") as client:
        response = await client.get(f"/rooms/{room_id}/bag")
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_host_bags_a_product_the_merchant_lists_in_shop_and_sees_its_changes(stack: Stack, infra: Infra) -> None:
    merchant_id, merchant = await onboard_merchant(stack)
    product = await list_product(stack, merchant)
    sku_m, sku_l = (next(s["sku_id"] for s in product["skus"] if s["name"] == name) for name in ("M", "L"))
    host = infra.token("host", merchant_id=merchant_id)
    async with stack.client("live", host) as client:
        room = (await client.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id})).json()

        async def bagged() -> dict | None:
            response = await client.post(f"/rooms/{room['room_id']}/bag", json={"product_id": product["product_id"]})
            assert response.status_code in (201, 409), response.text
            return response.json() if response.status_code == 201 else None

        added = await eventually(bagged)
    assert (added["product_id"], added["position"]) == (product["product_id"], 1)

    items = await bag(stack, room["room_id"])
    assert [(i["product_id"], i["title"]) for i in items] == [(product["product_id"], "Linen Shirt")]
    assert {
        s["sku_id"]: (s["price_minor"], s["currency"], s["stock_available"], s["in_stock"]) for s in items[0]["skus"]
    } == {
        sku_m: (2599, "USD", 5, True),
        sku_l: (2799, "USD", 2, True),
    }

    async with stack.client("shop", merchant) as seller:
        assert (await seller.patch(f"/seller/skus/{sku_l}", json={"stock_on_hand": 0})).status_code == 200
        assert (await seller.patch(f"/seller/skus/{sku_m}", json={"price_minor": 1999})).status_code == 200
        assert (
            await seller.patch(f"/seller/products/{product['product_id']}", json={"title": "Linen Shirt II"})
        ).status_code == 200

    async def changes_shown() -> bool:
        item = (await bag(stack, room["room_id"]))[0]
        skus = {s["sku_id"]: s for s in item["skus"]}
        return (
            item["title"] == "Linen Shirt II"
            and skus[sku_m]["price_minor"] == 1999
            and (skus[sku_l]["stock_available"], skus[sku_l]["in_stock"]) == (0, False)
        )

    await eventually(changes_shown)


async def test_product_listed_by_another_merchant_in_shop_is_refused(stack: Stack, infra: Infra) -> None:
    merchant_id, _ = await onboard_merchant(stack)
    _, other_merchant = await onboard_merchant(stack)
    foreign = await list_product(stack, other_merchant, title="Not yours")
    async with stack.client("live", infra.token("host", merchant_id=merchant_id)) as host:
        room = (await host.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id})).json()

        async def answered() -> dict | None:
            response = await host.post(f"/rooms/{room['room_id']}/bag", json={"product_id": foreign["product_id"]})
            return None if response.status_code == 409 else {"status": response.status_code, **response.json()}

        refused = await eventually(answered)
    assert refused["status"] == 422
    assert refused["type"] == PROBLEM + "product-not-from-room-merchant"
    assert refused["field"] == "product_id"
