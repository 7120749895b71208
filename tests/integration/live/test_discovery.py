"""Discovery: rooms live now by viewers, scheduled rooms, rooms of hosts I follow, follows and fan counts, host pages.

Real Postgres and NATS; viewers join through the join API, exactly as a client's player does.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from tests.harness import Infra, Stack, assert_problem, publish
from tests.integration.live.support import (
    Room,
    add_when_known,
    control,
    create_room,
    join,
    live_room,
    new_id,
    product_event,
)

SERVICES = ("live",)


async def listing(stack: Stack, token: str | None = None, **params: str | int) -> list[dict]:
    """Every room of the listing, page after page (a page of 2, so the cursor is exercised)."""
    items: list[dict] = []
    cursor: str | None = None
    async with stack.client("live", token) as client:
        while True:
            query = {"limit": 2, **params, **({"cursor": cursor} if cursor else {})}
            response = await client.get("/rooms", params=query)
            assert response.status_code == 200, response.text
            page = response.json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def ours(items: list[dict], *rooms: Room) -> list[str]:
    """The ids of `rooms` in the order the listing shows them (other tests' rooms left out)."""
    wanted = {room.room_id for room in rooms}
    return [item["room_id"] for item in items if item["room_id"] in wanted]


async def follow(stack: Stack, buyer: str, host_id: str, method: str = "PUT"):
    async with stack.client("live", buyer) as client:
        return await client.request(method, f"/hosts/{host_id}/follow")


async def host_page(stack: Stack, host_id: str, token: str | None = None) -> dict:
    async with stack.client("live", token) as client:
        response = await client.get(f"/hosts/{host_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def schedule(stack: Stack, room: Room, at: datetime) -> None:
    async with stack.client("live", room.host) as client:
        response = await client.patch(f"/rooms/{room.room_id}", json={"scheduled_start_at": at.isoformat()})
    assert response.status_code == 200, response.text


# --- live now and scheduled -----------------------------------------------------------------


async def test_live_rooms_are_listed_by_concurrent_viewers(stack: Stack, infra: Infra) -> None:
    quiet, busy, middling = [await live_room(stack, infra) for _ in range(3)]
    ended = await live_room(stack, infra)
    await control(stack, ended, "end")
    for room, viewers in ((busy, 3), (middling, 2), (quiet, 0)):
        for _ in range(viewers):
            assert (await join(stack, room, infra.token("buyer"))).status_code == 200

    items = await listing(stack)
    assert ours(items, quiet, busy, middling, ended) == [busy.room_id, middling.room_id, quiet.room_id]
    shown = {item["room_id"]: item for item in items}
    assert shown[busy.room_id]["concurrent_viewers"] == 3
    assert shown[middling.room_id] == {
        "room_id": middling.room_id,
        "title": "Summer drop",
        "cover_url": None,
        "host_id": middling.body["host_id"],
        "merchant_id": middling.merchant_id,
        "status": "live",
        "concurrent_viewers": 2,
        "pinned": None,
        "scheduled_start_at": None,
    }
    counts = [item["concurrent_viewers"] for item in items]
    assert counts == sorted(counts, reverse=True)

    # Two viewers join the quiet room: it ties with the middling one, and the room id breaks the tie.
    for _ in range(2):
        assert (await join(stack, quiet, infra.token("buyer"))).status_code == 200
    tied = sorted([middling.room_id, quiet.room_id])
    assert ours(await listing(stack), quiet, busy, middling) == [busy.room_id, *tied]


async def test_a_listed_room_shows_its_pinned_product(stack: Stack, infra: Infra) -> None:
    room = await live_room(stack, infra)
    event = product_event(room.merchant_id, title="Silk Scarf")
    await publish(stack, event)
    await add_when_known(stack, room.host, room.room_id, event.product_id)
    async with stack.client("live", room.host) as client:
        response = await client.put(f"/rooms/{room.room_id}/pin", json={"product_id": event.product_id})
    assert response.status_code == 200, response.text

    shown = next(item for item in await listing(stack) if item["room_id"] == room.room_id)
    assert shown["pinned"] == {
        "kind": "product",
        "product_id": event.product_id,
        "title": "Silk Scarf",
        "price_minor": 2599,
        "currency": "USD",
    }


async def test_scheduled_rooms_are_listed_soonest_first(stack: Stack, infra: Infra) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    later, sooner, unscheduled = [await create_room(stack, infra) for _ in range(3)]
    await schedule(stack, later, now + timedelta(days=2))
    await schedule(stack, sooner, now + timedelta(hours=3))
    gone_live = await create_room(stack, infra)
    await schedule(stack, gone_live, now + timedelta(hours=1))
    await control(stack, gone_live, "start")

    items = await listing(stack, status="scheduled")
    assert ours(items, later, sooner, unscheduled, gone_live) == [sooner.room_id, later.room_id]
    shown = next(item for item in items if item["room_id"] == sooner.room_id)
    assert shown["status"] == "scheduled"
    assert datetime.fromisoformat(shown["scheduled_start_at"]) == now + timedelta(hours=3)
    assert shown["concurrent_viewers"] == 0
    starts = [item["scheduled_start_at"] for item in items]
    assert starts == sorted(starts, key=datetime.fromisoformat)


async def test_following_lists_only_rooms_of_hosts_i_follow(stack: Stack, infra: Infra) -> None:
    followed, other = await live_room(stack, infra), await live_room(stack, infra)
    soon = await create_room(stack, infra, followed.merchant_id, host=followed.host)
    await schedule(stack, soon, datetime.now(UTC) + timedelta(hours=1))
    buyer = infra.token("buyer")
    assert (await follow(stack, buyer, followed.body["host_id"])).status_code == 204

    assert ours(await listing(stack, buyer, following="true"), followed, other) == [followed.room_id]
    assert ours(await listing(stack, buyer, following="true", status="scheduled"), soon) == [soon.room_id]
    assert ours(await listing(stack, infra.token("buyer"), following="true"), followed, other) == []
    # Everyone else still sees both.
    assert set(ours(await listing(stack), followed, other)) == {followed.room_id, other.room_id}

    # The listing is public (no 401/403): the filter that needs a buyer is a parameter refused without one.
    for token in (None, followed.host):
        async with stack.client("live", token) as client:
            refused = await client.get("/rooms", params={"following": "true"})
        assert_problem(refused, 400, "following-needs-buyer", "following")


async def test_listing_refuses_a_cursor_it_did_not_hand_out(stack: Stack, infra: Infra) -> None:
    async with stack.client("live") as client:
        assert_problem(await client.get("/rooms", params={"cursor": "not-ours"}), 400, "invalid-cursor", "cursor")
        assert_problem(await client.get("/rooms", params={"status": "ended"}), 400)


# --- follows and fans -------------------------------------------------------------------------


async def test_following_twice_is_one_fan_and_unfollowing_twice_is_none(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    host_id, buyer = room.body["host_id"], infra.token("buyer")
    assert (await host_page(stack, host_id))["fans"] == 0

    for _ in range(2):
        assert (await follow(stack, buyer, host_id)).status_code == 204
    page = await host_page(stack, host_id, buyer)
    assert (page["fans"], page["following"]) == (1, True)
    assert (await host_page(stack, host_id))["following"] is False

    for _ in range(2):
        assert (await follow(stack, buyer, host_id, "DELETE")).status_code == 204
    page = await host_page(stack, host_id, buyer)
    assert (page["fans"], page["following"]) == (0, False)
    # Unfollowing someone never followed takes nobody away.
    assert (await follow(stack, infra.token("buyer"), host_id, "DELETE")).status_code == 204
    assert (await host_page(stack, host_id))["fans"] == 0


async def test_twenty_buyers_following_at_once_are_twenty_fans(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    host_id = room.body["host_id"]
    buyers = [infra.token("buyer") for _ in range(20)]
    # Each follows twice at once as well: still one fan each.
    answers = await asyncio.gather(*(follow(stack, buyer, host_id) for buyer in buyers + buyers))
    assert {a.status_code for a in answers} == {204}
    assert (await host_page(stack, host_id))["fans"] == 20

    answers = await asyncio.gather(*(follow(stack, buyer, host_id, "DELETE") for buyer in buyers[:15] * 2))
    assert {a.status_code for a in answers} == {204}
    assert (await host_page(stack, host_id))["fans"] == 5


async def test_follow_refusals(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    host_id = room.body["host_id"]
    assert_problem(await follow(stack, infra.token("buyer", sub=host_id), host_id), 422, "cannot-follow-self")
    assert_problem(await follow(stack, infra.token("buyer"), f"host-never-seen-{uuid.uuid4().hex}"), 404)
    assert_problem(await follow(stack, room.host, host_id), 403)
    async with stack.client("live") as client:
        assert_problem(await client.put(f"/hosts/{host_id}/follow"), 401)
        assert_problem(await client.get(f"/hosts/host-never-seen-{uuid.uuid4().hex}"), 404)
    assert (await host_page(stack, host_id))["fans"] == 0


async def test_my_following_lists_hosts_newest_follow_first(stack: Stack, infra: Infra) -> None:
    rooms = [await create_room(stack, infra) for _ in range(3)]
    await control(stack, rooms[1], "start")
    buyer = infra.token("buyer")
    for room in rooms:
        assert (await follow(stack, buyer, room.body["host_id"])).status_code == 204
    assert (await follow(stack, infra.token("buyer"), rooms[0].body["host_id"])).status_code == 204

    items: list[dict] = []
    cursor = None
    async with stack.client("live", buyer) as client:
        while True:
            response = await client.get("/me/following", params={"limit": 2, **({"cursor": cursor} if cursor else {})})
            assert response.status_code == 200, response.text
            items += response.json()["items"]
            cursor = response.json().get("next_cursor")
            if not cursor:
                break
    assert [i["host_id"] for i in items] == [r.body["host_id"] for r in reversed(rooms)]
    assert [(i["fans"], i["live"]) for i in items] == [(1, False), (1, True), (2, False)]


# --- host pages -------------------------------------------------------------------------------


async def test_host_page_shows_live_then_scheduled_then_recently_ended_rooms(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    older_ended, newer_ended, scheduled, unscheduled, live = [
        await create_room(stack, infra, merchant_id, host=host) for _ in range(5)
    ]
    for room in (older_ended, newer_ended):
        await control(stack, room, "start")
        await control(stack, room, "end")
    await schedule(stack, scheduled, datetime.now(UTC) + timedelta(hours=2))
    await control(stack, live, "start")
    assert (await join(stack, live, infra.token("buyer"))).status_code == 200
    buyer = infra.token("buyer")
    assert (await follow(stack, buyer, live.body["host_id"])).status_code == 204

    page = await host_page(stack, live.body["host_id"], buyer)
    assert (page["host_id"], page["fans"], page["following"]) == (live.body["host_id"], 1, True)
    assert [r["room_id"] for r in page["rooms"]] == [
        live.room_id,
        scheduled.room_id,
        unscheduled.room_id,
        newer_ended.room_id,
        older_ended.room_id,
    ]
    assert [r["status"] for r in page["rooms"]] == ["live", "scheduled", "scheduled", "ended", "ended"]
    assert page["rooms"][0]["concurrent_viewers"] == 1
