"""A live room's bag: products from live's catalogue replica, their order, the pinned product.

Real Postgres and NATS; shop's events are published by the test.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from libs.contracts import ProductUpdated, StockChanged
from tests.harness import PROBLEM, Infra, Stack, eventually, publish
from tests.integration.live.support import (
    add_when_known,
    bag_titles,
    bag_with,
    create_room,
    get_bag,
    new_id,
    product_event,
    sku,
)

SERVICES = ("live",)


async def test_bag_accepts_a_product_once_live_has_heard_of_it(stack: Stack, infra: Infra) -> None:
    merchant_id, host_id = new_id(), f"host-{uuid.uuid4().hex[:8]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    event = product_event(merchant_id, skus=[sku("M", 2599, stock=5), sku("L", 2799, stock=0)])

    async with stack.client("live", host) as client:
        early = await client.post(f"/rooms/{room.room_id}/bag", json={"product_id": event.product_id})
    assert early.status_code == 409
    assert early.json()["type"] == PROBLEM + "product-unknown"
    assert "retry" in early.json()["detail"]

    await publish(stack, event)
    added = await add_when_known(stack, host, room.room_id, event.product_id)
    assert added["room_id"] == room.room_id
    assert added["product_id"] == event.product_id
    assert added["position"] == 1

    async with stack.client("live", host) as client:
        again = await client.post(f"/rooms/{room.room_id}/bag", json={"product_id": event.product_id})
    assert again.status_code == 200
    assert again.json() == added

    async with stack.client("live") as anonymous:
        bag = (await anonymous.get(f"/rooms/{room.room_id}/bag")).json()
    assert bag == {
        "items": [
            {
                "product_id": event.product_id,
                "title": "Linen Shirt",
                "position": 1,
                "pinned": False,
                "skus": [
                    {
                        "sku_id": event.skus[0].sku_id,
                        "name": "M",
                        "price_minor": 2599,
                        "currency": "USD",
                        "stock_available": 5,
                        "in_stock": True,
                    },
                    {
                        "sku_id": event.skus[1].sku_id,
                        "name": "L",
                        "price_minor": 2799,
                        "currency": "USD",
                        "stock_available": 0,
                        "in_stock": False,
                    },
                ],
            }
        ],
        "pinned_product_id": None,
    }


async def test_bag_keeps_products_in_the_order_they_were_added(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    first, second = product_event(merchant_id, title="First"), product_event(merchant_id, title="Second")
    await publish(stack, first)
    await publish(stack, second)
    assert (await add_when_known(stack, host, room.room_id, second.product_id))["position"] == 1
    assert (await add_when_known(stack, host, room.room_id, first.product_id))["position"] == 2
    assert await bag_titles(stack, room.room_id) == ["Second", "First"]


async def test_product_replica_ignores_an_older_version_arriving_late(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    product_id = new_id()
    await publish(stack, product_event(merchant_id, product_id=product_id, title="v1"))
    await add_when_known(stack, host, room.room_id, product_id)
    newer = ProductUpdated(product_id=product_id, merchant_id=merchant_id, title="v3", version=3, skus=[sku()])
    await publish(stack, newer)
    await eventually(lambda: _titles_are(stack, room.room_id, ["v3"]))

    late = ProductUpdated(product_id=product_id, merchant_id=merchant_id, title="v2", version=2, skus=[sku()])
    await publish(stack, late)
    # The same consumer takes events in stream order: once a later marker shows, the late one was handled.
    marker = product_event(merchant_id, title="marker")
    await publish(stack, marker)
    await add_when_known(stack, host, room.room_id, marker.product_id)
    assert await bag_titles(stack, room.room_id) == ["v3", "marker"]


async def _titles_are(stack: Stack, room_id: str, titles: list[str]) -> bool:
    return await bag_titles(stack, room_id) == titles


async def test_stock_changes_show_in_the_bag_and_older_ones_are_ignored(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    t0 = datetime.now(UTC)
    event = product_event(merchant_id, title="v1", skus=[sku("M", stock=5), sku("L", stock=5)], occurred_at=t0)
    sku_m, sku_l = (s.sku_id for s in event.skus)
    await publish(stack, event)
    await add_when_known(stack, host, room.room_id, event.product_id)

    def stock_change(sku_id: str, available: int, seconds: float) -> StockChanged:
        return StockChanged(
            sku_id=sku_id,
            product_id=event.product_id,
            merchant_id=merchant_id,
            stock_on_hand=available + 1,
            stock_reserved=1,
            stock_available=available,
            occurred_at=t0 + timedelta(seconds=seconds),
        )

    async def shown() -> dict:
        async with stack.client("live") as client:
            item = (await client.get(f"/rooms/{room.room_id}/bag")).json()["items"][0]
        return {"title": item["title"], **{s["name"]: (s["stock_available"], s["in_stock"]) for s in item["skus"]}}

    async def shows(**expected: object) -> bool:
        current = await shown()
        return all(current[k] == v for k, v in expected.items())

    await publish(stack, stock_change(sku_m, 0, seconds=2))
    await eventually(lambda: shows(M=(0, False), L=(5, True)))

    # An older level of M arrives late; a later change of L on the same consumer shows it was handled.
    await publish(stack, stock_change(sku_m, 4, seconds=1))
    await publish(stack, stock_change(sku_l, 3, seconds=3))
    await eventually(lambda: shows(L=(3, True)))
    assert await shown() == {"title": "v1", "M": (0, False), "L": (3, True)}

    # Product events carry a stock snapshot, but once live has a SKU's level only stock events change it.
    await publish(
        stack,
        ProductUpdated(
            product_id=event.product_id,
            merchant_id=merchant_id,
            title="v2",
            version=2,
            skus=[sku("M", stock=6, sku_id=sku_m), sku("L", stock=6, sku_id=sku_l)],
            occurred_at=t0 + timedelta(seconds=5),
        ),
    )
    await eventually(lambda: shows(title="v2"))
    assert await shown() == {"title": "v2", "M": (0, False), "L": (3, True)}

    await publish(stack, stock_change(sku_m, 6, seconds=6))
    await eventually(lambda: shows(M=(6, True)))


async def test_product_of_another_merchant_is_refused(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    foreign = product_event(new_id())
    await publish(stack, foreign)

    async def attempt() -> dict | None:
        async with stack.client("live", host) as client:
            response = await client.post(f"/rooms/{room.room_id}/bag", json={"product_id": foreign.product_id})
        return None if response.status_code == 409 else {"status": response.status_code, **response.json()}

    refused = await eventually(attempt)
    assert refused["status"] == 422
    assert refused["type"] == PROBLEM + "product-not-from-room-merchant"
    assert refused["field"] == "product_id"
    assert await bag_titles(stack, room.room_id) == []


async def test_only_the_rooms_host_and_its_merchant_change_its_bag(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    room = await create_room(stack, infra, merchant_id)
    event = product_event(merchant_id)
    await publish(stack, event)
    await add_when_known(stack, room.host, room.room_id, event.product_id)
    bag_path, item_path = f"/rooms/{room.room_id}/bag", f"/rooms/{room.room_id}/bag/{event.product_id}"
    order_path, pin_path = f"{bag_path}/order", f"/rooms/{room.room_id}/pin"
    body = {"product_id": event.product_id}

    # Another host streaming for the same merchant is still not this room's host; another merchant is not its merchant.
    for stranger in (infra.token("host", merchant_id=merchant_id), infra.token("merchant", merchant_id=new_id())):
        async with stack.client("live", stranger) as client:
            refused = [
                await client.post(bag_path, json=body),
                await client.delete(item_path),
                await client.put(order_path, json={"product_ids": [event.product_id]}),
                await client.put(pin_path, json=body),
            ]
        for response in refused:
            assert response.status_code == 403, response.text
            assert response.json()["type"] == PROBLEM + "not-your-room"
    async with stack.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.post(bag_path, json=body)).status_code == 403
        assert (await buyer.delete(item_path)).status_code == 403
        assert (await buyer.put(pin_path, json=body)).status_code == 403
    async with stack.client("live") as anonymous:
        assert (await anonymous.post(bag_path, json=body)).status_code == 401
        assert (await anonymous.delete(item_path)).status_code == 401
    assert (await get_bag(stack, room.room_id))["pinned_product_id"] is None
    assert await bag_titles(stack, room.room_id) == ["Linen Shirt"]

    # The merchant the room sells for runs its bag as the host does.
    second = product_event(merchant_id, title="Second")
    await publish(stack, second)
    assert (await add_when_known(stack, room.merchant, room.room_id, second.product_id))["position"] == 2
    async with stack.client("live", room.merchant) as merchant:
        assert (await merchant.put(pin_path, json={"product_id": second.product_id})).status_code == 200
        assert (await merchant.delete(item_path)).status_code == 204
    bag = await get_bag(stack, room.room_id)
    assert [(i["title"], i["pinned"]) for i in bag["items"]] == [("Second", True)]


async def test_bag_refuses_a_malformed_product_id_and_unknown_rooms(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    async with stack.client("live", host) as client:
        malformed = await client.post(f"/rooms/{room.room_id}/bag", json={"product_id": "shirt"})
        unknown_room = await client.post(f"/rooms/{new_id()}/bag", json={"product_id": new_id()})
    assert malformed.status_code == 400
    assert malformed.json()["field"] == "product_id"
    assert unknown_room.status_code == 404


async def test_host_removes_a_product_from_the_bag(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(stack, infra, merchant_id, host)
    kept, dropped = product_event(merchant_id, title="Kept"), product_event(merchant_id, title="Dropped")
    await publish(stack, kept)
    await publish(stack, dropped)
    await add_when_known(stack, host, room.room_id, kept.product_id)
    await add_when_known(stack, host, room.room_id, dropped.product_id)

    async with stack.client("live", host) as client:
        removed = await client.delete(f"/rooms/{room.room_id}/bag/{dropped.product_id}")
        again = await client.delete(f"/rooms/{room.room_id}/bag/{dropped.product_id}")
    assert removed.status_code == 204
    assert again.status_code == 404
    assert await bag_titles(stack, room.room_id) == ["Kept"]

    readded = await add_when_known(stack, host, room.room_id, dropped.product_id)
    assert readded["position"] == 2
    assert await bag_titles(stack, room.room_id) == ["Kept", "Dropped"]


# --- order and pin ----------------------------------------------------------------------


async def test_host_reorders_the_bag_and_new_products_go_last(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    a, b, c = await bag_with(stack, room, "A", "B", "C")
    async with stack.client("live", room.host) as client:
        response = await client.put(f"/rooms/{room.room_id}/bag/order", json={"product_ids": [c, a, b]})
    assert response.status_code == 200, response.text
    assert [(i["title"], i["position"]) for i in response.json()["items"]] == [("C", 1), ("A", 2), ("B", 3)]
    assert response.json() == await get_bag(stack, room.room_id)

    (d,) = await bag_with(stack, room, "D")
    assert await bag_titles(stack, room.room_id) == ["C", "A", "B", "D"]
    async with stack.client("live", room.merchant) as client:
        response = await client.put(f"/rooms/{room.room_id}/bag/order", json={"product_ids": [d, c, b, a]})
    assert response.status_code == 200, response.text
    assert await bag_titles(stack, room.room_id) == ["D", "C", "B", "A"]


@pytest.mark.parametrize("case", ["missing", "foreign", "duplicate", "empty"])
async def test_a_bag_order_must_name_each_product_of_the_bag_once(stack: Stack, infra: Infra, case: str) -> None:
    room = await create_room(stack, infra)
    a, b = await bag_with(stack, room, "A", "B")
    asked = {"missing": [b], "foreign": [b, a, new_id()], "duplicate": [b, a, a], "empty": []}[case]
    async with stack.client("live", room.host) as client:
        response = await client.put(f"/rooms/{room.room_id}/bag/order", json={"product_ids": asked})
    assert response.status_code == 422, response.text
    assert response.json()["type"] == PROBLEM + "bag-order-mismatch"
    assert response.json()["field"] == "product_ids"
    assert await bag_titles(stack, room.room_id) == ["A", "B"]


async def test_a_malformed_bag_order_is_refused(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    async with stack.client("live", room.host) as client:
        not_ids = await client.put(f"/rooms/{room.room_id}/bag/order", json={"product_ids": ["shirt"]})
        no_list = await client.put(f"/rooms/{room.room_id}/bag/order", json={})
        unknown_room = await client.put(f"/rooms/{new_id()}/bag/order", json={"product_ids": []})
    assert not_ids.status_code == no_list.status_code == 400
    assert not_ids.json()["field"].startswith("product_ids")
    assert unknown_room.status_code == 404


async def test_simultaneous_reorders_leave_one_of_the_asked_orders(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    ids = await bag_with(stack, room, "A", "B", "C", "D")
    orders = [ids[i:] + ids[:i] for i in range(4)] + [list(reversed(ids[i:] + ids[:i])) for i in range(4)]
    async with stack.client("live", room.host) as client:
        answers = await asyncio.gather(
            *(client.put(f"/rooms/{room.room_id}/bag/order", json={"product_ids": order}) for order in orders)
        )
    assert {a.status_code for a in answers} == {200}
    bag = await get_bag(stack, room.room_id)
    assert [i["product_id"] for i in bag["items"]] in orders
    assert [i["position"] for i in bag["items"]] == [1, 2, 3, 4]


async def test_the_pinned_product_shows_in_the_bag(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    a, b = await bag_with(stack, room, "A", "B")

    async def pin(product_id: str | None) -> dict:
        async with stack.client("live", room.host) as client:
            response = await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": product_id})
        assert response.status_code == 200, response.text
        return response.json()

    async def pinned() -> tuple[str | None, list[bool]]:
        bag = await get_bag(stack, room.room_id)
        return bag["pinned_product_id"], [i["pinned"] for i in bag["items"]]

    assert await pinned() == (None, [False, False])
    assert await pin(b) == {"room_id": room.room_id, "product_id": b}
    assert await pinned() == (b, [False, True])
    await pin(a)
    assert await pinned() == (a, [True, False])
    assert await pin(a) == {"room_id": room.room_id, "product_id": a}  # pinning it again changes nothing
    assert await pin(None) == {"room_id": room.room_id, "product_id": None}
    assert await pinned() == (None, [False, False])


async def test_only_a_product_in_the_bag_can_be_pinned(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    (a,) = await bag_with(stack, room, "A")
    elsewhere = await create_room(stack, infra, room.merchant_id)
    (b,) = await bag_with(stack, elsewhere, "B")  # known to live, of the room's merchant, in another room's bag

    async with stack.client("live", room.host) as client:
        for product_id in (b, new_id()):
            response = await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": product_id})
            assert response.status_code == 422, response.text
            assert response.json()["type"] == PROBLEM + "product-not-in-bag"
            assert response.json()["field"] == "product_id"
        malformed = await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": "shirt"})
        unsaid = await client.put(f"/rooms/{room.room_id}/pin", json={})
        unknown_room = await client.put(f"/rooms/{new_id()}/pin", json={"product_id": a})
    assert malformed.status_code == unsaid.status_code == 400
    assert unsaid.json()["field"] == "product_id"
    assert unknown_room.status_code == 404
    assert (await get_bag(stack, room.room_id))["pinned_product_id"] is None


async def test_removing_the_pinned_product_unpins_it(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    a, b = await bag_with(stack, room, "A", "B")
    async with stack.client("live", room.host) as client:
        assert (await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": a})).status_code == 200
        assert (await client.delete(f"/rooms/{room.room_id}/bag/{b}")).status_code == 204
        assert (await get_bag(stack, room.room_id))["pinned_product_id"] == a  # another product: still pinned
        assert (await client.delete(f"/rooms/{room.room_id}/bag/{a}")).status_code == 204
    assert await get_bag(stack, room.room_id) == {"items": [], "pinned_product_id": None}

    await add_when_known(stack, room.host, room.room_id, a)
    assert (await get_bag(stack, room.room_id))["pinned_product_id"] is None
