"""local_life's deals in a live room's bag beside products: added, pinned, announced in the feed, reordered, removed,
and shown not on sale once ended (local_life's deal events are published by the test)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec

from libs.contracts import DealEnded, DealPublished
from tests.harness import PROBLEM, Infra, Stack, eventually, publish
from tests.integration.live.support import (
    FeedReader,
    Room,
    bag_with,
    create_room,
    get_bag,
    live_room,
    new_id,
)

SERVICES = ("live",)


def deal_published(merchant_id: str, *, title: str = "Hotpot for two", team_size: int | None = None) -> DealPublished:
    return DealPublished(
        deal_id=new_id(),
        merchant_id=merchant_id,
        title=title,
        price_minor=8800,
        original_value_minor=12800,
        currency="USD",
        vouchers_per_purchase=1,
        team_size=team_size,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )


def deal_ended(published: DealPublished, *, seconds_later: float = 1) -> DealEnded:
    fields = msgspec.structs.asdict(published)
    del fields["event_id"]
    fields["occurred_at"] = published.occurred_at + timedelta(seconds=seconds_later)
    return DealEnded(**fields)


async def add_deal_when_known(stack: Stack, token: str, room_id: str, deal_id: str) -> dict:
    """Put the deal in the bag, retrying while live has not yet heard it published."""

    async def attempt() -> dict | None:
        async with stack.client("live", token) as client:
            response = await client.post(f"/rooms/{room_id}/bag", json={"deal_id": deal_id})
        if response.status_code == 409 and response.json()["type"] == PROBLEM + "deal-unknown":
            return None
        assert response.status_code == 201, response.text
        return response.json()

    return await eventually(attempt)


async def deal_in_bag(stack: Stack, room: Room, **terms: object) -> DealPublished:
    deal = deal_published(room.merchant_id, **terms)  # type: ignore[arg-type]
    await publish(stack, deal)
    await add_deal_when_known(stack, room.host, room.room_id, deal.deal_id)
    return deal


async def pin(stack: Stack, room: Room, body: dict) -> dict:
    async with stack.client("live", room.host) as client:
        response = await client.put(f"/rooms/{room.room_id}/pin", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_deal_in_the_bag_shows_with_its_terms_and_can_be_pinned(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    (shirt,) = await bag_with(stack, room, "Shirt")
    deal = deal_published(room.merchant_id, title="Team hotpot", team_size=3)
    await publish(stack, deal)
    added = await add_deal_when_known(stack, room.host, room.room_id, deal.deal_id)
    assert (added["room_id"], added["deal_id"], added["position"]) == (room.room_id, deal.deal_id, 2)
    assert "product_id" not in added
    async with stack.client("live", room.merchant) as client:  # its merchant too; again: where it is
        again = await client.post(f"/rooms/{room.room_id}/bag", json={"deal_id": deal.deal_id})
    assert again.status_code == 200
    assert again.json() == added

    bag = await get_bag(stack, room.room_id)
    assert [i.get("kind") for i in bag["items"]] == [None, "deal"]  # products keep their shape
    assert bag["items"][1] == {
        "kind": "deal",
        "deal_id": deal.deal_id,
        "title": "Team hotpot",
        "position": 2,
        "pinned": False,
        "price_minor": 8800,
        "original_value_minor": 12800,
        "currency": "USD",
        "vouchers_per_purchase": 1,
        "team_size": 3,
        "on_sale": True,
    }
    assert bag["pinned_product_id"] is None

    assert await pin(stack, room, {"deal_id": deal.deal_id}) == {
        "room_id": room.room_id,
        "product_id": None,
        "deal_id": deal.deal_id,
    }
    bag = await get_bag(stack, room.room_id)
    assert bag["pinned_product_id"] is None  # names a pinned product only
    assert [i["pinned"] for i in bag["items"]] == [False, True]

    # Pinning the product moves the pin off the deal; unpinning leaves nothing pinned.
    await pin(stack, room, {"product_id": shirt})
    bag = await get_bag(stack, room.room_id)
    assert (bag["pinned_product_id"], [i["pinned"] for i in bag["items"]]) == (shirt, [True, False])
    await pin(stack, room, {"deal_id": deal.deal_id})
    assert await pin(stack, room, {"deal_id": None}) == {"room_id": room.room_id, "product_id": None}
    assert [i["pinned"] for i in (await get_bag(stack, room.room_id))["items"]] == [False, False]


async def test_the_feed_announces_a_pinned_deal(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    deal = await deal_in_bag(stack, room, title="Spa morning")
    async with FeedReader(stack, room.room_id) as reader:
        await reader.next()  # the state
        await pin(stack, room, {"deal_id": deal.deal_id})
        pinned = await reader.next_of("pin.changed")
        await pin(stack, room, {"product_id": None})
        unpinned = await reader.next_of("pin.changed")
    assert pinned.data["deal_id"] == deal.deal_id
    assert (pinned.data["product_id"], pinned.data["product"]) == (None, None)
    assert pinned.data["deal"]["title"] == "Spa morning"
    assert (pinned.data["deal"]["kind"], pinned.data["deal"]["on_sale"]) == ("deal", True)
    assert (unpinned.data["deal_id"], unpinned.data["deal"], unpinned.data["product_id"]) == (None, None, None)

    # A viewer arriving later sees the pinned deal in the room's state.
    await pin(stack, room, {"deal_id": deal.deal_id})
    async with FeedReader(stack, room.room_id) as reader:
        state = await reader.next()
    assert state.event == "state"
    assert (state.data["pinned"]["deal_id"], state.data["pinned"]["price_minor"]) == (deal.deal_id, 8800)


async def test_a_deal_of_another_merchant_or_unknown_to_live_is_refused(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    foreign = deal_published(new_id())
    own = deal_published(room.merchant_id)
    await publish(stack, foreign)
    await deal_in_bag(stack, room)  # live has applied the events before it: the foreign deal is known

    async with stack.client("live", room.host) as client:
        other_merchants = await client.post(f"/rooms/{room.room_id}/bag", json={"deal_id": foreign.deal_id})
        unknown = await client.post(f"/rooms/{room.room_id}/bag", json={"deal_id": own.deal_id})
        both = await client.post(f"/rooms/{room.room_id}/bag", json={"deal_id": own.deal_id, "product_id": new_id()})
        neither = await client.post(f"/rooms/{room.room_id}/bag", json={})
        pin_both = await client.put(f"/rooms/{room.room_id}/pin", json={"deal_id": None, "product_id": None})
        pin_foreign = await client.put(f"/rooms/{room.room_id}/pin", json={"deal_id": foreign.deal_id})
    assert other_merchants.status_code == 422, other_merchants.text
    assert other_merchants.json()["type"] == PROBLEM + "deal-not-from-room-merchant"
    assert other_merchants.json()["field"] == "deal_id"
    assert unknown.status_code == 409
    assert unknown.json()["type"] == PROBLEM + "deal-unknown"
    for response in (both, neither, pin_both):
        assert response.status_code == 422, response.text
        assert response.json()["type"] == PROBLEM + "product-or-deal"
    assert pin_foreign.status_code == 422
    assert pin_foreign.json()["type"] == PROBLEM + "deal-not-in-bag"
    assert len((await get_bag(stack, room.room_id))["items"]) == 1


async def test_an_ended_deal_shows_as_not_on_sale_and_stays_ended(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    deal = await deal_in_bag(stack, room)
    await publish(stack, deal_ended(deal))

    async def on_sale() -> list[bool]:
        return [i["on_sale"] for i in (await get_bag(stack, room.room_id))["items"]]

    async def ended_shows() -> bool:
        return await on_sale() == [False]

    await eventually(ended_shows)
    # A DealPublished republished after the end (even one stamped later) does not put it back on sale.
    await publish(stack, msgspec.structs.replace(deal, event_id=new_id(), occurred_at=deal.occurred_at + timedelta(1)))
    await deal_in_bag(stack, room, title="Marker")  # handled after the republished event
    assert await on_sale() == [False, True]

    async with stack.client("live", room.host) as client:
        readd = await client.post(f"/rooms/{room.room_id}/bag", json={"deal_id": deal.deal_id})
    elsewhere = await create_room(stack, infra, room.merchant_id)
    async with stack.client("live", elsewhere.host) as client:
        ended_elsewhere = await client.post(f"/rooms/{elsewhere.room_id}/bag", json={"deal_id": deal.deal_id})
    for response in (readd, ended_elsewhere):
        assert response.status_code == 409, response.text
        assert response.json()["type"] == PROBLEM + "deal-ended"
    # An ended deal already in the bag can still be pinned (as an out-of-stock product can), shown not on sale.
    await pin(stack, room, {"deal_id": deal.deal_id})
    async with stack.client("live") as client:
        state = (await client.get(f"/rooms/{room.room_id}/state")).json()
    assert (state["pinned"]["deal_id"], state["pinned"]["on_sale"]) == (deal.deal_id, False)


async def test_deal_entries_are_reordered_and_removed_like_products(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    shirt, hat = await bag_with(stack, room, "Shirt", "Hat")
    deal = await deal_in_bag(stack, room, title="Hotpot")
    order_path = f"/rooms/{room.room_id}/bag/order"

    async with stack.client("live", room.host) as client:
        by_products = await client.put(order_path, json={"product_ids": [hat, shirt]})
        missing = await client.put(order_path, json={"items": [{"product_id": hat}, {"product_id": shirt}]})
        reordered = await client.put(
            order_path, json={"items": [{"deal_id": deal.deal_id}, {"product_id": hat}, {"product_id": shirt}]}
        )
    assert by_products.status_code == missing.status_code == 422
    assert by_products.json()["type"] == missing.json()["type"] == PROBLEM + "bag-order-mismatch"
    assert (by_products.json()["field"], missing.json()["field"]) == ("product_ids", "items")
    assert reordered.status_code == 200, reordered.text
    assert [(i["title"], i["position"]) for i in reordered.json()["items"]] == [
        ("Hotpot", 1),
        ("Hat", 2),
        ("Shirt", 3),
    ]
    assert reordered.json() == await get_bag(stack, room.room_id)

    async with FeedReader(stack, room.room_id) as reader:
        await reader.next()
        await pin(stack, room, {"deal_id": deal.deal_id})
        async with stack.client("live", room.host) as client:
            removed = await client.delete(f"/rooms/{room.room_id}/bag/deals/{deal.deal_id}")
            again = await client.delete(f"/rooms/{room.room_id}/bag/deals/{deal.deal_id}")
        await reader.next_of("pin.changed")
        unpinned = await reader.next_of("pin.changed")
        changed = await reader.next_of("bag.changed")
    assert removed.status_code == 204
    assert again.status_code == 404
    assert (unpinned.data["deal_id"], unpinned.data["deal"]) == (None, None)
    assert changed.data["product_ids"] == [hat, shirt]
    assert changed.data["items"] == [{"product_id": hat}, {"product_id": shirt}]
    bag = await get_bag(stack, room.room_id)
    assert [i["title"] for i in bag["items"]] == ["Hat", "Shirt"]
    assert bag == {"items": bag["items"], "pinned_product_id": None}
