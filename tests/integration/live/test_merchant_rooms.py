"""A merchant's own rooms (`GET /merchants/{id}/rooms`) by status, paged; and a room a merchant schedules for one of
its hosts (`POST /rooms` naming `host_id`). Real Postgres and NATS, rooms made and run over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from tests.harness import Infra, Stack, assert_problem
from tests.integration.live.support import Room, control, create_room, join, new_id

SERVICES = ("live",)


async def rooms_of(stack: Stack, token: str, merchant_id: str, **params: str | int) -> httpx.Response:
    async with stack.client("live", token) as client:
        return await client.get(f"/merchants/{merchant_id}/rooms", params=params)


async def every_page(stack: Stack, token: str, merchant_id: str, status: str) -> list[dict]:
    """The whole listing of one status, two rooms a page, so the cursor is exercised."""
    items: list[dict] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"status": status, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await rooms_of(stack, token, merchant_id, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def schedule(stack: Stack, room: Room, at: datetime | None) -> None:
    async with stack.client("live", room.host) as client:
        response = await client.patch(
            f"/rooms/{room.room_id}", json={"scheduled_start_at": at.isoformat() if at else None}
        )
    assert response.status_code == 200, response.text


async def new_room(stack: Stack, token: str, body: dict, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    async with stack.client("live", token) as client:
        return await client.post("/rooms", json=body, headers=headers)


async def test_a_merchants_rooms_are_listed_by_status_in_pages(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", sub=f"host-{uuid.uuid4().hex[:8]}", merchant_id=merchant_id)
    rooms = [await create_room(stack, infra, merchant_id, host) for _ in range(8)]
    soon, later, unannounced_a, unannounced_b, first_live, second_live, first_ended, second_ended = rooms
    now = datetime.now(UTC).replace(microsecond=0)
    await schedule(stack, later, now + timedelta(days=2))
    await schedule(stack, soon, now + timedelta(days=1))
    for room in (first_ended, second_ended, first_live, second_live):
        await control(stack, room, "start")
    await control(stack, first_ended, "end")
    await control(stack, second_ended, "end")
    # Live again and ended again: its second session is the one shown, and it ended last.
    await control(stack, first_ended, "start")
    await control(stack, first_ended, "end")
    assert (await join(stack, first_live, infra.token("buyer"))).status_code == 200
    # Another merchant's room is never listed.
    await create_room(stack, infra)

    merchant = infra.token("merchant", merchant_id=merchant_id)
    live = await every_page(stack, merchant, merchant_id, "live")
    assert [r["room_id"] for r in live] == [second_live.room_id, first_live.room_id]  # newest session first
    assert [r["concurrent_viewers"] for r in live] == [0, 1]
    assert live[1]["sessions"] == 1
    assert live[1]["last_started_at"] is not None
    assert live[1]["last_ended_at"] is None

    scheduled = await every_page(stack, merchant, merchant_id, "scheduled")
    unannounced = sorted([unannounced_a.room_id, unannounced_b.room_id])
    assert [r["room_id"] for r in scheduled] == [soon.room_id, later.room_id, *unannounced]
    assert scheduled[0] == {
        "room_id": soon.room_id,
        "title": "Summer drop",
        "cover_url": None,
        "host_id": soon.body["host_id"],
        "merchant_id": merchant_id,
        "status": "scheduled",
        "scheduled_start_at": (now + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
        "created_at": soon.body["created_at"],
        "sessions": 0,
        "last_started_at": None,
        "last_ended_at": None,
        "concurrent_viewers": 0,
    }

    ended = await every_page(stack, merchant, merchant_id, "ended")
    assert [r["room_id"] for r in ended] == [first_ended.room_id, second_ended.room_id]  # newest end first
    assert [r["sessions"] for r in ended] == [2, 1]
    assert all(r["last_ended_at"] >= r["last_started_at"] for r in ended)
    # Live is the default status.
    default = await rooms_of(stack, merchant, merchant_id)
    assert [r["room_id"] for r in default.json()["items"]] == [second_live.room_id, first_live.room_id]


async def test_the_merchants_hosts_list_its_rooms_and_nobody_else_does(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    other_merchant = new_id()
    for token in (room.merchant, room.host, infra.token("host", merchant_id=room.merchant_id)):
        answer = await rooms_of(stack, token, room.merchant_id, status="scheduled")
        assert answer.status_code == 200, answer.text
        assert [r["room_id"] for r in answer.json()["items"]] == [room.room_id]
    for token in (infra.token("merchant", merchant_id=other_merchant), infra.token("host", merchant_id=other_merchant)):
        assert_problem(await rooms_of(stack, token, room.merchant_id), 403, "not-your-merchant")
    assert_problem(await rooms_of(stack, infra.token("host"), room.merchant_id), 403, "not-your-merchant")
    assert_problem(await rooms_of(stack, infra.token("buyer"), room.merchant_id), 403)
    assert (await rooms_of(stack, None, room.merchant_id)).status_code == 401  # type: ignore[arg-type]
    assert_problem(await rooms_of(stack, room.merchant, "not-a-merchant"), 404, "not-found")


async def test_a_cursor_is_for_the_status_it_was_handed_out_for(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    for _ in range(3):
        await create_room(stack, infra, merchant_id, host)
    merchant = infra.token("merchant", merchant_id=merchant_id)
    first = (await rooms_of(stack, merchant, merchant_id, status="scheduled", limit=1)).json()
    assert first["next_cursor"]
    assert_problem(
        await rooms_of(stack, merchant, merchant_id, status="ended", cursor=first["next_cursor"]),
        400,
        "invalid-cursor",
        "cursor",
    )
    assert_problem(await rooms_of(stack, merchant, merchant_id, cursor="garbage!"), 400, "invalid-cursor")
    assert_problem(await rooms_of(stack, merchant, merchant_id, status="all"), 400)
    assert_problem(await rooms_of(stack, merchant, merchant_id, limit=0), 400)


async def test_a_merchant_schedules_a_room_for_a_host_who_has_hosted_its_rooms(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host_id = f"host-{uuid.uuid4().hex[:8]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    await create_room(stack, infra, merchant_id, host)
    merchant = infra.token("merchant", merchant_id=merchant_id)
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    body = {"title": "Autumn launch", "host_id": host_id, "cover_url": "https://img.example/c.jpg"}
    key = uuid.uuid4().hex
    created = await new_room(stack, merchant, {**body, "scheduled_start_at": at.isoformat()}, key)
    assert created.status_code == 201, created.text
    room = created.json()
    assert (room["host_id"], room["merchant_id"], room["status"], room["title"]) == (
        host_id,
        merchant_id,
        "scheduled",
        "Autumn launch",
    )
    assert datetime.fromisoformat(room["scheduled_start_at"]) == at
    # A double click with the same key: the same room.
    again = await new_room(stack, merchant, {**body, "scheduled_start_at": at.isoformat()}, key)
    assert again.status_code == 201
    assert again.json() == room

    # Listed for the merchant, announced on the host's page, and the host runs it.
    listed = (await rooms_of(stack, merchant, merchant_id, status="scheduled")).json()["items"]
    assert listed[0]["room_id"] == room["room_id"]
    async with stack.client("live") as public:
        page = (await public.get(f"/hosts/{host_id}")).json()
    assert room["room_id"] in [r["room_id"] for r in page["rooms"]]
    started = await control(stack, Room(room["room_id"], merchant_id, host, merchant), "start")
    assert started["status"] == "live"


async def test_a_merchants_new_room_keeps_the_refusals_and_names_its_host(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    merchant = infra.token("merchant", merchant_id=merchant_id)
    # A host of another merchant's rooms, and a host nobody has seen: neither hosts for this merchant.
    stranger = await create_room(stack, infra)
    for host_id in (stranger.body["host_id"], f"host-{uuid.uuid4().hex[:8]}"):
        refused = await new_room(stack, merchant, {"title": "Autumn launch", "host_id": host_id})
        assert_problem(refused, 422, "unknown-host", "host_id")
    assert_problem(await new_room(stack, merchant, {"title": "Autumn launch"}), 422, "host-id-required", "host_id")
    other = {"title": "Autumn launch", "host_id": stranger.body["host_id"], "merchant_id": new_id()}
    assert_problem(await new_room(stack, merchant, other), 403, "not-your-merchant", "merchant_id")
    # A host still opens only its own rooms.
    host_id = f"host-{uuid.uuid4().hex[:8]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    named = await new_room(stack, host, {"title": "Autumn launch", "host_id": "someone-else"})
    assert_problem(named, 422, "not-your-host-id", "host_id")
    assert (await new_room(stack, host, {"title": "Autumn launch", "host_id": host_id})).status_code == 201
    assert_problem(await new_room(stack, infra.token("host"), {"title": "x"}), 403, "host-not-linked-to-merchant")
    assert_problem(await new_room(stack, infra.token("buyer"), {"title": "x", "host_id": "h"}), 403)
    nothing = (await rooms_of(stack, merchant, merchant_id, status="scheduled")).json()["items"]
    assert len(nothing) == 1  # only the host's own
