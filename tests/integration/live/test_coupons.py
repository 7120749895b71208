"""Coupon drops in live rooms over real HTTP, Postgres and NATS: who may drop, who may claim, limits under races."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import msgspec

from libs.contracts import CouponClaimed
from tests.harness import PROBLEM, Infra, Stack, eventually
from tests.integration.live.support import FeedReader, Room, create_room, live_room

# Concurrency tests fire several claims per buyer at once; the per-caller throttle is not what they test.
BURST = 50

SERVICES = ("live",)
SETTINGS = {"purchase_burst": BURST}
# A second instance on the same database: limits must hold however claims are spread.
INSTANCES = {"live2": ("live", {})}


async def open_room(stack: Stack, *, start: bool = True) -> Room:
    """A host's room for a fresh merchant, started unless asked not to."""
    return await (live_room if start else create_room)(stack, stack.infra)


def terms(stack: Stack, **fields: object) -> dict[str, object]:
    body: dict[str, object] = {
        "kind": "amount_off",
        "amount_off_minor": 500,
        "currency": "USD",
        "min_spend_minor": 2000,
        "per_buyer_limit": 1,
        "total": 100,
        "valid_until": (stack.clock.now() + timedelta(hours=1)).isoformat(),
    }
    body.update(fields)
    return body


async def drop(stack: Stack, room: Room, token: str | None = None, **fields: object) -> dict:
    async with stack.client("live", token or room.host) as client:
        response = await client.post(f"/rooms/{room.room_id}/coupon-drops", json=terms(stack, **fields))
    assert response.status_code == 201, response.text
    return response.json()


async def watching_buyer(stack: Stack, room: Room) -> str:
    """A buyer token whose owner has joined the room and is watching it."""
    token = stack.infra.token("buyer")
    async with stack.client("live", token) as buyer:
        joined = await buyer.post(f"/rooms/{room.room_id}/join")
    assert joined.status_code in (200, 201), joined.text
    return token


async def claim(
    stack: Stack, room_id: str, drop_id: str, token: str, key: str | None = None, via: str = "live"
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    async with stack.client(via, token) as buyer:
        return await buyer.post(f"/rooms/{room_id}/coupon-drops/{drop_id}/claim", headers=headers)


async def open_drops(stack: Stack, room_id: str) -> list[dict]:
    async with stack.client("live") as anonymous:
        response = await anonymous.get(f"/rooms/{room_id}/coupon-drops")
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def my_coupons(stack: Stack, token: str) -> list[dict]:
    async with stack.client("live", token) as buyer:
        response = await buyer.get("/coupons")
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def claimed_events(stack: Stack, drop_id: str, expected: int) -> list[CouponClaimed]:
    """The CouponClaimed events of a drop on JetStream, as orders would receive them (waits for `expected`)."""
    bus = stack.apps["live"].runtime.bus
    sub = await bus.js.pull_subscribe(bus.subject(CouponClaimed.SUBJECT), stream=bus.stream("LIVE"))
    seen: dict[str, CouponClaimed] = {}
    try:

        async def all_there() -> bool:
            try:
                messages = await sub.fetch(500, timeout=0.5)
            except TimeoutError:
                messages = []
            for message in messages:
                event = msgspec.json.decode(message.data, type=CouponClaimed)
                if event.drop_id == drop_id:
                    seen[event.event_id] = event
                await message.ack()
            return len(seen) >= expected

        await eventually(all_there, timeout=15)
        # Anything published twice would have arrived by now too.
        await all_there()
    finally:
        await sub.unsubscribe()
    return list(seen.values())


# --- dropping -----------------------------------------------------------------------------------


async def test_the_rooms_host_drops_coupons_that_anyone_sees_with_what_is_left(stack: Stack) -> None:
    room = await open_room(stack)
    valid_until = (stack.clock.now() + timedelta(minutes=30)).replace(microsecond=0)
    dropped = await drop(stack, room, total=50, per_buyer_limit=2, valid_until=valid_until.isoformat())
    assert dropped["room_id"] == room.room_id
    assert (dropped["kind"], dropped["amount_off_minor"], dropped["percent_off"], dropped["currency"]) == (
        "amount_off",
        500,
        0,
        "USD",
    )
    assert (dropped["min_spend_minor"], dropped["per_buyer_limit"], dropped["total"]) == (2000, 2, 50)
    assert (dropped["claimed"], dropped["remaining"], dropped["status"]) == (0, 50, "open")
    assert [d["drop_id"] for d in await open_drops(stack, room.room_id)] == [dropped["drop_id"]]
    listed = (await open_drops(stack, room.room_id))[0]
    assert listed == dropped


async def test_the_rooms_merchant_drops_a_percentage_coupon(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, room.merchant, kind="percent_off", amount_off_minor=None, percent_off=15)
    assert (dropped["kind"], dropped["percent_off"], dropped["amount_off_minor"]) == ("percent_off", 15, 0)


async def test_only_the_rooms_host_or_its_merchant_may_drop_or_end(stack: Stack, infra: Infra) -> None:
    room = await open_room(stack)
    opened = await drop(stack, room)
    outsiders = {
        "another host of the same merchant": infra.token("host", merchant_id=room.merchant_id),
        "another merchant": infra.token("merchant", merchant_id=str(uuid.uuid4())),
        "a buyer": infra.token("buyer"),
        "an operator": infra.token("operator"),
    }
    for who, token in outsiders.items():
        async with stack.client("live", token) as client:
            dropped = await client.post(f"/rooms/{room.room_id}/coupon-drops", json=terms(stack))
            ended = await client.post(f"/rooms/{room.room_id}/coupon-drops/{opened['drop_id']}/end")
        assert dropped.status_code == 403, (who, dropped.text)
        assert ended.status_code == 403, (who, ended.text)
    async with stack.client("live") as anonymous:
        assert (await anonymous.post(f"/rooms/{room.room_id}/coupon-drops", json=terms(stack))).status_code == 401
    assert [d["drop_id"] for d in await open_drops(stack, room.room_id)] == [opened["drop_id"]]
    assert (await open_drops(stack, room.room_id))[0]["status"] == "open"


async def test_a_room_that_is_not_live_takes_no_drops(stack: Stack) -> None:
    room = await open_room(stack, start=False)
    async with stack.client("live", room.host) as host:
        response = await host.post(f"/rooms/{room.room_id}/coupon-drops", json=terms(stack))
        assert response.status_code == 409, response.text
        assert response.json()["type"] == PROBLEM + "room-not-live"
        unknown = await host.post(f"/rooms/{uuid.uuid4()}/coupon-drops", json=terms(stack))
        assert unknown.status_code == 404, unknown.text
        assert (await host.post("/rooms/not-a-room/coupon-drops", json=terms(stack))).status_code == 404
    assert await open_drops(stack, room.room_id) == []


async def test_nonsensical_terms_are_refused_naming_the_field(stack: Stack) -> None:
    room = await open_room(stack)
    past = (stack.clock.now() - timedelta(seconds=5)).isoformat()
    cases = {
        "percent_off": {"kind": "percent_off", "amount_off_minor": None, "percent_off": 101},
        "amount_off_minor": {"amount_off_minor": None},
        "valid_until": {"valid_until": past},
        "total": {"total": 0},
        "per_buyer_limit": {"per_buyer_limit": 0},
        "currency": {"currency": "dollars"},
        "min_spend_minor": {"min_spend_minor": -1},
        "kind": {"kind": "bogo"},
    }
    async with stack.client("live", room.host) as host:
        for field, change in cases.items():
            body = {k: v for k, v in terms(stack, **change).items() if v is not None}
            response = await host.post(f"/rooms/{room.room_id}/coupon-drops", json=body)
            assert response.status_code == 400, (field, response.text)
            assert response.json()["field"] == field, response.text
        naive = await host.post(
            f"/rooms/{room.room_id}/coupon-drops", json=terms(stack, valid_until="2099-01-01T00:00:00")
        )
        assert naive.status_code == 400, naive.text
        assert naive.json()["field"] == "valid_until", naive.text
    assert await open_drops(stack, room.room_id) == []


async def test_a_retried_drop_with_the_same_key_drops_once(stack: Stack) -> None:
    room = await open_room(stack)
    body = terms(stack)
    async with stack.client("live", room.host) as host:
        answers = await asyncio.gather(
            *(
                host.post(f"/rooms/{room.room_id}/coupon-drops", json=body, headers={"Idempotency-Key": "drop-1"})
                for _ in range(3)
            )
        )
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json()["drop_id"] for a in answers}) == 1
    assert len(await open_drops(stack, room.room_id)) == 1


# --- claiming -----------------------------------------------------------------------------------


async def test_a_watching_buyer_claims_a_coupon_with_the_drops_terms(stack: Stack) -> None:
    room = await open_room(stack)
    valid_until = (stack.clock.now() + timedelta(minutes=20)).replace(microsecond=0)
    dropped = await drop(stack, room, total=3, valid_until=valid_until.isoformat())
    buyer = await watching_buyer(stack, room)

    response = await claim(stack, room.room_id, dropped["drop_id"], buyer)
    assert response.status_code == 201, response.text
    coupon = response.json()
    assert set(coupon) == {
        "coupon_id",
        "drop_id",
        "kind",
        "amount_off_minor",
        "percent_off",
        "currency",
        "min_spend_minor",
        "valid_until",
    }
    assert uuid.UUID(coupon["coupon_id"])
    assert (coupon["drop_id"], coupon["kind"], coupon["amount_off_minor"], coupon["currency"]) == (
        dropped["drop_id"],
        "amount_off",
        500,
        "USD",
    )
    assert coupon["min_spend_minor"] == 2000

    mine = await my_coupons(stack, buyer)
    assert [(c["coupon_id"], c["room_id"], c["merchant_id"]) for c in mine] == [
        (coupon["coupon_id"], room.room_id, room.merchant_id)
    ]
    assert (await open_drops(stack, room.room_id))[0]["remaining"] == 2

    [event] = await claimed_events(stack, dropped["drop_id"], 1)
    assert event.coupon_id == coupon["coupon_id"]
    assert (event.room_id, event.merchant_id, event.kind, event.amount_off_minor) == (
        room.room_id,
        room.merchant_id,
        "amount_off",
        500,
    )
    assert (event.currency, event.min_spend_minor, event.valid_until) == ("USD", 2000, valid_until)


async def test_only_buyers_claim(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room)
    for token in (room.host, room.merchant):
        response = await claim(stack, room.room_id, dropped["drop_id"], token)
        assert response.status_code == 403, response.text
    assert (await open_drops(stack, room.room_id))[0]["claimed"] == 0


async def test_a_buyer_not_watching_the_room_cannot_claim(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room)
    elsewhere = await open_room(stack)
    watching_another_room = await watching_buyer(stack, elsewhere)

    for token in (stack.infra.token("buyer"), watching_another_room):
        response = await claim(stack, room.room_id, dropped["drop_id"], token)
        assert response.status_code == 409, response.text
        assert response.json()["type"] == PROBLEM + "not-in-room"

    left = await watching_buyer(stack, room)
    async with stack.client("live", left) as buyer:
        assert (await buyer.post(f"/rooms/{room.room_id}/leave")).status_code in (200, 204)
    response = await claim(stack, room.room_id, dropped["drop_id"], left)
    assert response.status_code == 409, response.text
    assert response.json()["type"] == PROBLEM + "not-in-room", response.text
    assert (await open_drops(stack, room.room_id))[0]["claimed"] == 0


async def test_a_drop_is_claimed_only_through_its_own_room(stack: Stack) -> None:
    room, other = await open_room(stack), await open_room(stack)
    dropped = await drop(stack, room)
    buyer = await watching_buyer(stack, other)
    for room_id, drop_id in (
        (other.room_id, dropped["drop_id"]),
        (room.room_id, str(uuid.uuid4())),
        (room.room_id, "x"),
    ):
        response = await claim(stack, room_id, drop_id, buyer)
        assert response.status_code == 404, response.text


async def test_an_expired_drop_refuses_claims(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, valid_until=(stack.clock.now() + timedelta(seconds=30)).isoformat())
    stack.clock.advance(31)
    buyer = await watching_buyer(stack, room)
    response = await claim(stack, room.room_id, dropped["drop_id"], buyer)
    assert response.status_code == 409, response.text
    assert response.json()["type"] == PROBLEM + "drop-expired"
    assert await open_drops(stack, room.room_id) == []
    assert await my_coupons(stack, buyer) == []


async def test_an_ended_drop_refuses_claims_and_leaves_the_list(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room)
    buyer = await watching_buyer(stack, room)
    assert (await claim(stack, room.room_id, dropped["drop_id"], buyer)).status_code == 201
    async with stack.client("live", room.merchant) as merchant:
        ended = await merchant.post(f"/rooms/{room.room_id}/coupon-drops/{dropped['drop_id']}/end")
        again = await merchant.post(f"/rooms/{room.room_id}/coupon-drops/{dropped['drop_id']}/end")
    assert ended.status_code == 200, ended.text
    assert ended.json()["status"] == "ended", ended.text
    assert again.status_code == 200
    assert again.json() == ended.json()
    assert await open_drops(stack, room.room_id) == []
    late = await claim(stack, room.room_id, dropped["drop_id"], await watching_buyer(stack, room))
    assert late.status_code == 409, late.text
    assert late.json()["type"] == PROBLEM + "drop-ended", late.text
    assert len(await my_coupons(stack, buyer)) == 1  # a coupon already claimed stays the buyer's


async def test_a_retried_claim_with_the_same_key_returns_the_same_coupon(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, per_buyer_limit=3, total=10)
    buyer = await watching_buyer(stack, room)
    first, *retries = await asyncio.gather(
        *(
            claim(stack, room.room_id, dropped["drop_id"], buyer, key="claim-1", via=via)
            for via in ("live", "live2", "live")
        )
    )
    assert first.status_code == 201, first.text
    assert [r.json() for r in retries] == [first.json(), first.json()]
    assert [c["coupon_id"] for c in await my_coupons(stack, buyer)] == [first.json()["coupon_id"]]
    assert (await open_drops(stack, room.room_id))[0]["claimed"] == 1

    other = await claim(stack, room.room_id, dropped["drop_id"], buyer, key="claim-2")
    assert other.status_code == 201
    assert other.json()["coupon_id"] != first.json()["coupon_id"]


async def test_concurrent_claims_hand_out_exactly_the_total_and_nobody_beyond_their_limit(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, total=10, per_buyer_limit=2)
    buyers = await asyncio.gather(*(watching_buyer(stack, room) for _ in range(30)))

    answers = await asyncio.gather(
        *(
            claim(stack, room.room_id, dropped["drop_id"], token, via=via)
            for token in buyers
            for via in ("live", "live2", "live")
        )
    )

    won = [a for a in answers if a.status_code == 201]
    refused = [a.json()["type"] for a in answers if a.status_code != 201]
    assert len(won) == 10
    assert set(refused) <= {PROBLEM + "claimed-out", PROBLEM + "claim-limit-reached"}, refused
    assert len(refused) == 80
    per_buyer = [len(await my_coupons(stack, token)) for token in buyers]
    assert sum(per_buyer) == 10
    assert max(per_buyer) <= 2
    assert len({a.json()["coupon_id"] for a in won}) == 10
    [listed] = await open_drops(stack, room.room_id)
    assert (listed["claimed"], listed["remaining"]) == (10, 0)
    events = await claimed_events(stack, dropped["drop_id"], 10)
    assert sorted(e.coupon_id for e in events) == sorted(a.json()["coupon_id"] for a in won)


async def test_one_buyer_racing_claims_gets_exactly_their_limit(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, total=100, per_buyer_limit=2)
    buyer = await watching_buyer(stack, room)
    answers = await asyncio.gather(
        *(claim(stack, room.room_id, dropped["drop_id"], buyer, via=("live", "live2")[i % 2]) for i in range(5))
    )
    assert sorted(a.status_code for a in answers) == [201, 201, 409, 409, 409]
    assert {a.json()["type"] for a in answers if a.status_code == 409} == {PROBLEM + "claim-limit-reached"}
    assert len(await my_coupons(stack, buyer)) == 2
    assert (await open_drops(stack, room.room_id))[0]["claimed"] == 2


async def test_a_burst_of_claims_from_one_buyer_is_shed_with_retry_after(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, total=5, per_buyer_limit=1)
    buyer = await watching_buyer(stack, room)
    answers = await asyncio.gather(*(claim(stack, room.room_id, dropped["drop_id"], buyer) for _ in range(BURST + 10)))
    shed = [a for a in answers if a.status_code == 429]
    assert shed
    assert all(int(a.headers["Retry-After"]) >= 1 for a in shed)
    assert {a.json()["type"] for a in shed} == {PROBLEM + "too-many-requests"}
    assert sorted({a.status_code for a in answers}) == [201, 409, 429]
    assert len(await my_coupons(stack, buyer)) == 1


async def test_my_coupons_pages_newest_first(stack: Stack) -> None:
    room = await open_room(stack)
    buyer = await watching_buyer(stack, room)
    claimed = []
    for _ in range(3):
        dropped = await drop(stack, room)
        response = await claim(stack, room.room_id, dropped["drop_id"], buyer)
        claimed.append(response.json()["coupon_id"])
    async with stack.client("live", buyer) as client:
        first = (await client.get("/coupons", params={"limit": 2})).json()
        second = (await client.get("/coupons", params={"limit": 2, "cursor": first["next_cursor"]})).json()
        forged = await client.get("/coupons", params={"cursor": "forged"})
    assert [c["coupon_id"] for c in first["items"] + second["items"]] == claimed[::-1]
    assert second["next_cursor"] is None
    assert forged.status_code == 400
    assert forged.json()["field"] == "cursor"
    async with stack.client("live", room.host) as host:
        assert (await host.get("/coupons")).status_code == 403


# --- the room feed --------------------------------------------------------------------------------


async def test_viewers_see_coupons_drop_and_run_out_on_the_feed(stack: Stack) -> None:
    room = await open_room(stack)
    buyer = await watching_buyer(stack, room)
    async with FeedReader(stack, room.room_id) as feed:
        state = await feed.next_of("state")
        assert state.data["coupon_drops"] == []
        dropped = await drop(stack, room, total=1)
        announced = await feed.next_of("coupon.dropped", "coupon.claimed_out")
        assert announced.event == "coupon.dropped"
        assert (announced.data["drop_id"], announced.data["total"], announced.data["remaining"]) == (
            dropped["drop_id"],
            1,
            1,
        )
        assert (await claim(stack, room.room_id, dropped["drop_id"], buyer)).status_code == 201
        gone = await feed.next_of("coupon.dropped", "coupon.claimed_out")
        assert gone.event == "coupon.claimed_out"
        assert gone.data["drop_id"] == dropped["drop_id"]
        assert gone.id is not None
        assert announced.id is not None
        assert gone.id > announced.id


async def test_the_rooms_state_shows_open_drops_with_what_is_left(stack: Stack) -> None:
    room = await open_room(stack)
    dropped = await drop(stack, room, total=5, per_buyer_limit=2)
    buyer = await watching_buyer(stack, room)
    assert (await claim(stack, room.room_id, dropped["drop_id"], buyer)).status_code == 201
    async with stack.client("live") as anonymous:
        state = await anonymous.get(f"/rooms/{room.room_id}/state")
    assert state.status_code == 200, state.text
    [shown] = state.json()["coupon_drops"]
    assert (shown["drop_id"], shown["claimed"], shown["remaining"]) == (dropped["drop_id"], 1, 4)
