"""Live rooms: creation, lifecycle (start, end, sessions), edits, and who may control them; real Postgres and NATS."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.harness import PROBLEM, Infra, Stack
from tests.integration.live.support import Room, control, create_room, new_id

SERVICES = ("live",)


# --- rooms ----------------------------------------------------------------------------------


async def test_host_creates_a_scheduled_room_that_anyone_can_read(stack: Stack, infra: Infra) -> None:
    host_id, merchant_id = f"host-{uuid.uuid4().hex[:8]}", new_id()
    starts = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    body = {
        "title": "Summer drop",
        "merchant_id": merchant_id,
        "cover_url": "https://cdn.example.com/cover.jpg",
        "scheduled_start_at": starts.isoformat(),
    }
    async with stack.client("live", infra.token("host", sub=host_id, merchant_id=merchant_id)) as client:
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

    async with stack.client("live") as anonymous:
        fetched = await anonymous.get(f"/rooms/{room['room_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == room


async def test_a_room_belongs_to_the_merchant_in_the_hosts_token(stack: Stack, infra: Infra) -> None:
    host_id, merchant_id = f"host-{uuid.uuid4().hex[:8]}", new_id()
    async with stack.client("live", infra.token("host", sub=host_id, merchant_id=merchant_id)) as client:
        created = await client.post("/rooms", json={"title": "Summer drop"})
    assert created.status_code == 201, created.text
    assert (created.json()["merchant_id"], created.json()["host_id"]) == (merchant_id, host_id)


async def test_a_host_not_linked_to_a_merchant_cannot_open_rooms(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    async with stack.client("live", infra.token("host")) as unlinked:
        responses = [
            await unlinked.post("/rooms", json={"title": "Summer drop", "merchant_id": merchant_id}),
            await unlinked.post("/rooms", json={"title": "Summer drop"}),
        ]
    for response in responses:
        assert response.status_code == 403, response.text
        assert response.json()["type"] == PROBLEM + "host-not-linked-to-merchant"
    assert await rooms_of(stack, merchant_id) == 0


async def test_a_host_cannot_open_a_room_for_another_merchant(stack: Stack, infra: Infra) -> None:
    own, victim = new_id(), new_id()
    async with stack.client("live", infra.token("host", merchant_id=own)) as host:
        response = await host.post(
            "/rooms",
            json={"title": "Summer drop", "merchant_id": victim},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
    assert response.status_code == 403, response.text
    assert response.json()["type"] == PROBLEM + "not-your-merchant"
    assert "room_id" not in response.json()
    assert await rooms_of(stack, victim) == 0


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
    stack: Stack, infra: Infra, change: dict, field: str
) -> None:
    host_id, merchant_id = f"host-{uuid.uuid4().hex[:8]}", new_id()
    body = {"title": "Summer drop", "merchant_id": merchant_id, **change}
    async with stack.client("live", infra.token("host", sub=host_id, merchant_id=merchant_id)) as client:
        response = await client.post("/rooms", json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"] == PROBLEM + "validation-failed"
    assert response.json()["field"] == field


async def test_room_without_title_is_refused(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    async with stack.client("live", infra.token("host", merchant_id=merchant_id)) as client:
        response = await client.post("/rooms", json={"merchant_id": merchant_id})
    assert response.status_code == 400
    assert response.json()["field"] == "title"


async def test_only_hosts_create_rooms(stack: Stack, infra: Infra) -> None:
    body = {"title": "Summer drop", "merchant_id": new_id()}
    async with stack.client("live") as anonymous:
        assert (await anonymous.post("/rooms", json=body)).status_code == 401
    async with stack.client("live", "not-a-token") as forged:
        assert (await forged.post("/rooms", json=body)).status_code == 401
    async with stack.client("live", infra.token("buyer")) as buyer:
        assert (await buyer.post("/rooms", json=body)).status_code == 403


async def test_retried_room_creation_with_the_same_key_creates_one_room(stack: Stack, infra: Infra) -> None:
    body = {"title": "Summer drop", "merchant_id": new_id()}
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    async with stack.client("live", infra.token("host", merchant_id=body["merchant_id"])) as client:
        first = await client.post("/rooms", json=body, headers=headers)
        again = await client.post("/rooms", json=body, headers=headers)
        other = await client.post("/rooms", json=body)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert other.json()["room_id"] != first.json()["room_id"]


@pytest.mark.parametrize(
    "room_id", ["6b13d498-d1fc-4a93-87cc-6b6e3a907f2a", "not-a-room"], ids=["unknown-uuid", "not-a-uuid"]
)
async def test_unknown_room_is_404(stack: Stack, room_id: str) -> None:
    async with stack.client("live") as client:
        for path in (f"/rooms/{room_id}", f"/rooms/{room_id}/bag"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["type"] == PROBLEM + "not-found"


# --- lifecycle --------------------------------------------------------------------------------


async def status_of(stack: Stack, room: Room) -> str:
    async with stack.client("live") as client:
        return (await client.get(f"/rooms/{room.room_id}")).json()["status"]


async def sessions_of(stack: Stack, room: Room) -> list[dict]:
    async with stack.client("live", room.host) as client:
        response = await client.get(f"/rooms/{room.room_id}/stats")
    assert response.status_code == 200, response.text
    return response.json()["sessions"]


async def test_each_start_of_a_room_opens_a_session_and_its_end_closes_it(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    assert await sessions_of(stack, room) == []

    started = await control(stack, room, "start")
    assert started == {**room.body, "status": "live"}
    assert await status_of(stack, room) == "live"
    (first,) = await sessions_of(stack, room)
    assert (first["number"], first["ended_at"]) == (1, None)

    assert (await control(stack, room, "end"))["status"] == "ended"
    assert await status_of(stack, room) == "ended"
    (first,) = await sessions_of(stack, room)
    assert first["ended_at"] is not None

    # Its merchant takes it live again: a second session, the first one stays as it was.
    assert (await control(stack, room, "start", token=room.merchant))["status"] == "live"
    again, second = await sessions_of(stack, room)
    assert again == first
    assert (second["number"], second["ended_at"]) == (2, None)
    assert second["session_id"] != first["session_id"]
    assert datetime.fromisoformat(second["started_at"]) >= datetime.fromisoformat(first["ended_at"])
    assert (await control(stack, room, "end", token=room.merchant))["status"] == "ended"


async def test_a_room_is_started_and_ended_only_in_the_right_state(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    async with stack.client("live", room.host) as host:
        not_live = await host.post(f"/rooms/{room.room_id}/end")
        assert (await host.post(f"/rooms/{room.room_id}/start")).status_code == 200
        already = await host.post(f"/rooms/{room.room_id}/start")
        assert (await host.post(f"/rooms/{room.room_id}/end")).status_code == 200
        ended = await host.post(f"/rooms/{room.room_id}/end")
    assert (not_live.status_code, not_live.json()["type"]) == (409, PROBLEM + "room-not-live")
    assert (already.status_code, already.json()["type"]) == (409, PROBLEM + "room-already-live")
    assert (ended.status_code, ended.json()["type"]) == (409, PROBLEM + "room-not-live")
    assert len(await sessions_of(stack, room)) == 1


async def test_room_controls_belong_to_its_host_and_its_merchant(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    start, end, edit = f"/rooms/{room.room_id}/start", f"/rooms/{room.room_id}/end", f"/rooms/{room.room_id}"
    # Another host of the same merchant, and another merchant, are told it is not their room.
    for stranger in (infra.token("host", merchant_id=room.merchant_id), infra.token("merchant", merchant_id=new_id())):
        async with stack.client("live", stranger) as client:
            for response in (
                await client.post(start),
                await client.post(end),
                await client.patch(edit, json={"title": "Mine now"}),
            ):
                assert response.status_code == 403, response.text
                assert response.json()["type"] == PROBLEM + "not-your-room"
    async with stack.client("live", infra.token("buyer")) as buyer:
        for response in (await buyer.post(start), await buyer.post(end), await buyer.patch(edit, json={"title": "x"})):
            assert response.status_code == 403
            assert response.json()["type"] == PROBLEM + "forbidden"
    async with stack.client("live") as anonymous:
        assert (await anonymous.post(start)).status_code == 401
    assert await status_of(stack, room) == "scheduled"
    async with stack.client("live", room.host) as host:
        for path in (f"/rooms/{new_id()}/start", "/rooms/not-a-room/end", f"/rooms/{new_id()}"):
            response = await (host.patch(path, json={"title": "x"}) if path.count("/") == 2 else host.post(path))
            assert response.status_code == 404, path
            assert response.json()["type"] == PROBLEM + "not-found"


async def test_simultaneous_starts_open_one_session(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    async with stack.client("live", room.host) as host:
        answers = await asyncio.gather(*(host.post(f"/rooms/{room.room_id}/start") for _ in range(12)))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 11
    assert {a.json()["type"] for a in answers if a.status_code == 409} == {PROBLEM + "room-already-live"}
    assert len(await sessions_of(stack, room)) == 1


async def test_a_retried_start_with_the_same_key_gets_the_first_answer(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    async with stack.client("live", room.host) as host:
        first = await host.post(f"/rooms/{room.room_id}/start", headers=headers)
        again = await host.post(f"/rooms/{room.room_id}/start", headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert len(await sessions_of(stack, room)) == 1


# --- edits ------------------------------------------------------------------------------------


async def test_host_edits_title_cover_and_schedule_until_the_room_ends(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    path = f"/rooms/{room.room_id}"
    starts = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    async with stack.client("live", room.host) as host:
        renamed = await host.patch(path, json={"title": "Autumn drop", "cover_url": "https://cdn.example.com/a.jpg"})
        assert renamed.status_code == 200, renamed.text
        assert renamed.json() == {**room.body, "title": "Autumn drop", "cover_url": "https://cdn.example.com/a.jpg"}
        scheduled = await host.patch(path, json={"scheduled_start_at": starts.isoformat(), "cover_url": None})
        assert scheduled.status_code == 200, scheduled.text
        assert scheduled.json()["title"] == "Autumn drop"  # absent: unchanged
        assert scheduled.json()["cover_url"] is None  # null: cleared
        assert datetime.fromisoformat(scheduled.json()["scheduled_start_at"]) == starts
        assert (await host.get(path)).json() == scheduled.json()

        await control(stack, room, "start")
        assert (await host.patch(path, json={"title": "Live now"})).json()["title"] == "Live now"
        await control(stack, room, "end")
        refused = await host.patch(path, json={"title": "Too late"})
    assert refused.status_code == 409
    assert refused.json()["type"] == PROBLEM + "room-ended"
    async with stack.client("live", room.merchant) as merchant:
        assert (await merchant.get(path)).json()["title"] == "Live now"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": None}, "title"),
        ({"cover_url": "javascript:alert(1)"}, "cover_url"),
        ({"scheduled_start_at": "2030-01-01T10:00:00"}, "scheduled_start_at"),
    ],
)
async def test_an_edit_with_a_bad_field_is_refused_naming_it(
    stack: Stack, infra: Infra, change: dict, field: str
) -> None:
    room = await create_room(stack, infra)
    async with stack.client("live", room.host) as host:
        response = await host.patch(f"/rooms/{room.room_id}", json=change)
        unchanged = (await host.get(f"/rooms/{room.room_id}")).json()
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert unchanged == room.body


# --- echo -------------------------------------------------------------------------------------


async def test_echo_tells_an_authenticated_caller_who_it_is(stack: Stack, infra: Infra) -> None:
    for role in ("buyer", "host", "merchant", "operator"):
        claims = {"merchant_id": new_id()} if role == "merchant" else {}
        async with stack.client("live", infra.token(role, sub=f"{role}-echo", **claims)) as client:
            response = await client.post("/echo")
        assert response.status_code == 200, response.text
        assert response.json() == {"sub": f"{role}-echo", "role": role}
    async with stack.client("live") as anonymous:
        assert (await anonymous.post("/echo")).status_code == 401
    async with stack.client("live", "not-a-token") as forged:
        assert (await forged.post("/echo")).status_code == 401
