"""Live rooms and their bag, against real Postgres and NATS; shop's events are published by the test."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from libs.contracts import ProductPublished, ProductUpdated, SkuSnapshot, StockChanged
from tests.harness import Infra, Stack, eventually, publish

PROBLEM = "https://liveloop.dev/problems/"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def live(infra: Infra) -> AsyncIterator[Stack]:
    st = await Stack(infra).start("live")
    yield st
    await st.stop()


def new_id() -> str:
    return str(uuid.uuid4())


def product_event(
    merchant_id: str,
    *,
    product_id: str | None = None,
    title: str = "Linen Shirt",
    version: int = 1,
    skus: list[SkuSnapshot] | None = None,
    occurred_at: datetime | None = None,
) -> ProductPublished:
    return ProductPublished(
        product_id=product_id or new_id(),
        merchant_id=merchant_id,
        title=title,
        version=version,
        skus=skus if skus is not None else [sku()],
        occurred_at=occurred_at or datetime.now(UTC),
    )


def sku(name: str = "M", price_minor: int = 2599, stock: int = 5, sku_id: str | None = None) -> SkuSnapshot:
    return SkuSnapshot(
        sku_id=sku_id or new_id(), name=name, price_minor=price_minor, currency="USD", stock_available=stock
    )


async def create_room(stack: Stack, infra: Infra, merchant_id: str, host_token: str | None = None) -> dict:
    async with stack.client("live", host_token or infra.token("host", merchant_id=merchant_id)) as client:
        response = await client.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id})
    assert response.status_code == 201, response.text
    return response.json()


async def bag_titles(stack: Stack, room_id: str) -> list[str]:
    async with stack.client("live") as client:
        response = await client.get(f"/rooms/{room_id}/bag")
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


async def add_when_known(stack: Stack, host_token: str, room_id: str, product_id: str) -> dict:
    """Add to the bag, retrying while live has not yet seen the product."""

    async def attempt() -> dict | None:
        async with stack.client("live", host_token) as client:
            response = await client.post(f"/rooms/{room_id}/bag", json={"product_id": product_id})
        if response.status_code == 409:
            return None
        assert response.status_code == 201, response.text
        return response.json()

    return await eventually(attempt)


# --- rooms ----------------------------------------------------------------------------------


async def test_host_creates_a_scheduled_room_that_anyone_can_read(live: Stack, infra: Infra) -> None:
    host_id, merchant_id = f"host-{uuid.uuid4().hex[:8]}", new_id()
    starts = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body = {
        "title": "Summer drop",
        "merchant_id": merchant_id,
        "cover_url": "https://cdn.example.com/cover.jpg",
        "scheduled_start_at": starts.isoformat(),
        "price_minor": 1,  # unknown fields are ignored, not errors
    }
    async with live.client("live", infra.token("host", sub=host_id, merchant_id=merchant_id)) as client:
        created = await client.post("/rooms", json=body)
    assert created.status_code == 201, created.text
    room = created.json()
    assert room["host_id"] == host_id
    assert room["merchant_id"] == merchant_id
    assert room["status"] == "scheduled"
    assert room["cover_url"] == "https://cdn.example.com/cover.jpg"
    assert datetime.fromisoformat(room["scheduled_start_at"]) == starts
    assert set(room) == {
        "room_id",
        "host_id",
        "merchant_id",
        "title",
        "cover_url",
        "status",
        "scheduled_start_at",
        "created_at",
    }

    async with live.client("live") as anonymous:
        fetched = await anonymous.get(f"/rooms/{room['room_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == room


async def test_a_room_belongs_to_the_merchant_in_the_hosts_token(live: Stack, infra: Infra) -> None:
    host_id, merchant_id = f"host-{uuid.uuid4().hex[:8]}", new_id()
    async with live.client("live", infra.token("host", sub=host_id, merchant_id=merchant_id)) as client:
        created = await client.post("/rooms", json={"title": "Summer drop"})
    assert created.status_code == 201, created.text
    assert (created.json()["merchant_id"], created.json()["host_id"]) == (merchant_id, host_id)


async def test_a_host_not_linked_to_a_merchant_cannot_open_rooms(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    async with live.client("live", infra.token("host")) as unlinked:
        responses = [
            await unlinked.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id}),
            await unlinked.post("/rooms", json={"title": "Summer drop"}),
        ]
    for response in responses:
        assert response.status_code == 403, response.text
        assert response.json()["type"] == PROBLEM + "host-not-linked-to-merchant"
    assert await rooms_of(live, merchant_id) == 0


async def test_a_host_cannot_open_a_room_for_another_merchant(live: Stack, infra: Infra) -> None:
    own, victim = new_id(), new_id()
    async with live.client("live", infra.token("host", merchant_id=own)) as host:
        response = await host.post(
            "/rooms",
            json={"title": "Summer drop", "merchant_id": victim},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert response.status_code == 403, response.text
    assert response.json()["type"] == PROBLEM + "not-your-merchant"
    assert "room_id" not in response.json()
    assert await rooms_of(live, victim) == 0


async def rooms_of(stack: Stack, merchant_id: str) -> int:
    """Rooms selling for a merchant (no endpoint lists them yet, so ask live's own table)."""
    return await stack.apps["live"].runtime.db.pool.fetchval(
        "SELECT count(*) FROM rooms WHERE merchant_id = $1", uuid.UUID(merchant_id)
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"merchant_id": "not-a-uuid"}, "merchant_id"),
        ({"cover_url": "ftp://files.example.com/cover.jpg"}, "cover_url"),
        ({"cover_url": "javascript:alert(1)"}, "cover_url"),
        ({"scheduled_start_at": "2030-01-01T10:00:00"}, "scheduled_start_at"),  # no timezone
        ({"scheduled_start_at": "tomorrow"}, "scheduled_start_at"),
    ],
)
async def test_room_with_a_bad_field_is_refused_naming_the_field(
    live: Stack, infra: Infra, change: dict, field: str
) -> None:
    host_id, merchant_id = f"host-{uuid.uuid4().hex[:8]}", new_id()
    body = {"title": "Summer drop", "merchant_id": merchant_id, **change}
    async with live.client("live", infra.token("host", sub=host_id, merchant_id=merchant_id)) as client:
        response = await client.post("/rooms", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM + "validation-failed"
    assert response.json()["field"] == field


async def test_room_without_title_is_refused(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    async with live.client("live", infra.token("host", merchant_id=merchant_id)) as client:
        response = await client.post("/rooms", json={"merchant_id": merchant_id})
    assert response.status_code == 400
    assert response.json()["field"] == "title"


async def test_only_hosts_create_rooms(live: Stack, infra: Infra) -> None:
    body = {"title": "Summer drop", "merchant_id": new_id()}
    async with live.client("live") as anonymous:
        assert (await anonymous.post("/rooms", json=body)).status_code == 401
    async with live.client("live", "not-a-token") as forged:
        assert (await forged.post("/rooms", json=body)).status_code == 401
    async with live.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.post("/rooms", json=body)).status_code == 403


async def test_retried_room_creation_with_the_same_key_creates_one_room(live: Stack, infra: Infra) -> None:
    body = {"title": "Summer drop", "merchant_id": new_id()}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    async with live.client("live", infra.token("host", merchant_id=body["merchant_id"])) as client:
        first = await client.post("/rooms", json=body, headers=headers)
        again = await client.post("/rooms", json=body, headers=headers)
        other = await client.post("/rooms", json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert other.json()["room_id"] != first.json()["room_id"]


@pytest.mark.parametrize("room_id", [str(uuid.uuid4()), "not-a-room"])
async def test_unknown_room_is_404(live: Stack, room_id: str) -> None:
    async with live.client("live") as client:
        for path in (f"/rooms/{room_id}", f"/rooms/{room_id}/bag"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["type"] == PROBLEM + "not-found"


# --- bag --------------------------------------------------------------------------------


async def test_bag_accepts_a_product_once_live_has_heard_of_it(live: Stack, infra: Infra) -> None:
    merchant_id, host_id = new_id(), f"host-{uuid.uuid4().hex[:8]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    event = product_event(merchant_id, skus=[sku("M", 2599, stock=5), sku("L", 2799, stock=0)])

    async with live.client("live", host) as client:
        early = await client.post(f"/rooms/{room['room_id']}/bag", json={"product_id": event.product_id})
    assert early.status_code == 409
    assert early.json()["type"] == PROBLEM + "product-unknown"
    assert "retry" in early.json()["detail"]

    await publish(live, event)
    added = await add_when_known(live, host, room["room_id"], event.product_id)
    assert added["room_id"] == room["room_id"]
    assert added["product_id"] == event.product_id
    assert added["position"] == 1

    async with live.client("live", host) as client:
        again = await client.post(f"/rooms/{room['room_id']}/bag", json={"product_id": event.product_id})
    assert again.status_code == 200
    assert again.json() == added

    async with live.client("live") as anonymous:
        bag = (await anonymous.get(f"/rooms/{room['room_id']}/bag")).json()
    assert bag == {
        "items": [
            {
                "product_id": event.product_id,
                "title": "Linen Shirt",
                "position": 1,
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
        ]
    }


async def test_bag_keeps_products_in_the_order_they_were_added(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    first, second = product_event(merchant_id, title="First"), product_event(merchant_id, title="Second")
    await publish(live, first)
    await publish(live, second)
    assert (await add_when_known(live, host, room["room_id"], second.product_id))["position"] == 1
    assert (await add_when_known(live, host, room["room_id"], first.product_id))["position"] == 2
    assert await bag_titles(live, room["room_id"]) == ["Second", "First"]


async def test_product_replica_ignores_an_older_version_arriving_late(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    product_id = new_id()
    await publish(live, product_event(merchant_id, product_id=product_id, title="v1"))
    await add_when_known(live, host, room["room_id"], product_id)
    newer = ProductUpdated(product_id=product_id, merchant_id=merchant_id, title="v3", version=3, skus=[sku()])
    await publish(live, newer)
    await eventually(lambda: _titles_are(live, room["room_id"], ["v3"]))

    late = ProductUpdated(product_id=product_id, merchant_id=merchant_id, title="v2", version=2, skus=[sku()])
    await publish(live, late)
    # The same consumer takes events in stream order: once a later marker shows, the late one was handled.
    marker = product_event(merchant_id, title="marker")
    await publish(live, marker)
    await add_when_known(live, host, room["room_id"], marker.product_id)
    assert await bag_titles(live, room["room_id"]) == ["v3", "marker"]


async def _titles_are(stack: Stack, room_id: str, titles: list[str]) -> bool:
    return await bag_titles(stack, room_id) == titles


async def test_stock_changes_show_in_the_bag_and_older_ones_are_ignored(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    t0 = datetime.now(UTC)
    event = product_event(merchant_id, title="v1", skus=[sku("M", stock=5), sku("L", stock=5)], occurred_at=t0)
    sku_m, sku_l = (s.sku_id for s in event.skus)
    await publish(live, event)
    await add_when_known(live, host, room["room_id"], event.product_id)

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
        async with live.client("live") as client:
            item = (await client.get(f"/rooms/{room['room_id']}/bag")).json()["items"][0]
        return {"title": item["title"], **{s["name"]: (s["stock_available"], s["in_stock"]) for s in item["skus"]}}

    async def shows(**expected: object) -> bool:
        current = await shown()
        return all(current[k] == v for k, v in expected.items())

    await publish(live, stock_change(sku_m, 0, seconds=2))
    await eventually(lambda: shows(M=(0, False), L=(5, True)))

    # An older level of M arrives late; a later change of L on the same consumer shows it was handled.
    await publish(live, stock_change(sku_m, 4, seconds=1))
    await publish(live, stock_change(sku_l, 3, seconds=3))
    await eventually(lambda: shows(L=(3, True)))
    assert await shown() == {"title": "v1", "M": (0, False), "L": (3, True)}

    # Product events carry a stock snapshot, but once live has a SKU's level only stock events change it.
    await publish(
        live,
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

    await publish(live, stock_change(sku_m, 6, seconds=6))
    await eventually(lambda: shows(M=(6, True)))


async def test_product_of_another_merchant_is_refused(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    foreign = product_event(new_id())
    await publish(live, foreign)

    async def attempt() -> dict | None:
        async with live.client("live", host) as client:
            response = await client.post(f"/rooms/{room['room_id']}/bag", json={"product_id": foreign.product_id})
        return None if response.status_code == 409 else {"status": response.status_code, **response.json()}

    refused = await eventually(attempt)
    assert refused["status"] == 422
    assert refused["type"] == PROBLEM + "product-not-from-room-merchant"
    assert refused["field"] == "product_id"
    assert await bag_titles(live, room["room_id"]) == []


async def test_only_the_rooms_host_changes_its_bag(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    event = product_event(merchant_id)
    await publish(live, event)
    await add_when_known(live, host, room["room_id"], event.product_id)
    bag_path, item_path = f"/rooms/{room['room_id']}/bag", f"/rooms/{room['room_id']}/bag/{event.product_id}"
    body = {"product_id": event.product_id}

    # Another host streaming for the same merchant is still not this room's host.
    async with live.client("live", infra.token("host", merchant_id=merchant_id)) as other_host:
        added = await other_host.post(bag_path, json=body)
        removed = await other_host.delete(item_path)
    for response in (added, removed):
        assert response.status_code == 403
        assert response.json()["type"] == PROBLEM + "not-room-host"
    async with live.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.post(bag_path, json=body)).status_code == 403
        assert (await buyer.delete(item_path)).status_code == 403
    async with live.client("live", infra.token("merchant", merchant_id=merchant_id)) as merchant:
        assert (await merchant.post(bag_path, json=body)).status_code == 403
    async with live.client("live") as anonymous:
        assert (await anonymous.post(bag_path, json=body)).status_code == 401
        assert (await anonymous.delete(item_path)).status_code == 401
    assert await bag_titles(live, room["room_id"]) == ["Linen Shirt"]


async def test_bag_refuses_a_malformed_product_id_and_unknown_rooms(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    async with live.client("live", host) as client:
        malformed = await client.post(f"/rooms/{room['room_id']}/bag", json={"product_id": "shirt"})
        unknown_room = await client.post(f"/rooms/{new_id()}/bag", json={"product_id": new_id()})
    assert malformed.status_code == 400
    assert malformed.json()["field"] == "product_id"
    assert unknown_room.status_code == 404


async def test_host_removes_a_product_from_the_bag(live: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    room = await create_room(live, infra, merchant_id, host)
    kept, dropped = product_event(merchant_id, title="Kept"), product_event(merchant_id, title="Dropped")
    await publish(live, kept)
    await publish(live, dropped)
    await add_when_known(live, host, room["room_id"], kept.product_id)
    await add_when_known(live, host, room["room_id"], dropped.product_id)

    async with live.client("live", host) as client:
        removed = await client.delete(f"/rooms/{room['room_id']}/bag/{dropped.product_id}")
        again = await client.delete(f"/rooms/{room['room_id']}/bag/{dropped.product_id}")
    assert removed.status_code == 204
    assert again.status_code == 404
    assert await bag_titles(live, room["room_id"]) == ["Kept"]

    readded = await add_when_known(live, host, room["room_id"], dropped.product_id)
    assert readded["position"] == 2
    assert await bag_titles(live, room["room_id"]) == ["Kept", "Dropped"]
