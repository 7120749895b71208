"""Flash sales against real shop, live (two instances) and orders: exactly N admitted under a rush, and the rules."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter
from datetime import timedelta

import httpx

from bench import scenario
from services.live.flash_sales.use_cases.admissions import OPTIMISTIC_TRIES, admissions_of
from tests.harness import PROBLEM, Stack, eventually
from tests.integration.live.support import (
    SALE_PRICE,
    UNTHROTTLED,
    ClientPool,
    Room,
    Seller,
    available_in_shop,
    buy,
    buy_once,
    new_sale,
    open_sale,
    orders_of,
    remaining_is,
    room_selling,
    sale_view,
    seller_with_stock,
    shop_sku,
)

SERVICES = ("shop", "live", "orders")
SETTINGS = UNTHROTTLED
INSTANCES = {"live2": ("live", {})}


async def rush(stack: Stack, room: Room, sale_id: str, *, instances: tuple[str, ...], buyers: int, attempts: int):
    """`attempts` purchases at once by `buyers` buyers (several each, distinct keys), split over `instances`."""
    tokens = [stack.infra.token("buyer", sub=f"rush-{uuid.uuid4().hex[:8]}-{i}") for i in range(buyers)]
    who = [i % buyers for i in range(attempts)]
    random.shuffle(who)
    pools = [ClientPool(stack.url(key)) for key in instances]
    try:
        responses = await asyncio.gather(
            *(pools[n % len(pools)].buy(room.room_id, sale_id, tokens[b]) for n, b in enumerate(who))
        )
    finally:
        for pool in pools:
            await pool.aclose()
    return [(tokens[b], response) for b, response in zip(who, responses, strict=True)]


async def check_exactly_sold(stack: Stack, room: Room, seller: Seller, sale: dict, results, units: int) -> None:
    admitted = [(token, r.json()) for token, r in results if r.status_code == 201]
    refused = Counter(r.json()["type"] for _, r in results if r.status_code != 201)
    assert len(admitted) == units
    assert set(refused) <= {PROBLEM + "sold-out", PROBLEM + "limit-reached"}, refused
    assert sum(refused.values()) == len(results) - units
    # No buyer holds two: each admitted buyer once, each admission its own order.
    assert len({token for token, _ in admitted}) == units
    assert len({a["order_id"] for _, a in admitted}) == units
    assert all(a["quantity"] == 1 and a["unit_price_minor"] == SALE_PRICE for _, a in admitted)
    for key in ("live", "live2"):
        view = await sale_view(stack, room.room_id, sale["sale_id"], key)
        assert view["remaining"] == 0
    orders = await orders_of(stack, admitted, timeout=60)
    for (_, admission), order in zip(admitted, orders, strict=True):
        assert order["status"] == "awaiting_payment"
        assert order["amount_minor"] == SALE_PRICE
        (line,) = order["lines"]
        assert (line["flash_sale_id"], line["admission_id"]) == (sale["sale_id"], admission["admission_id"])
        assert line["room_id"] == room.room_id
    # Shop holds exactly the sale's units aside: nothing more left the shelf.
    sku = await shop_sku(stack, seller)
    assert (sku["stock_on_hand"], sku["stock_reserved"]) == (1000, units)


async def test_a_rush_of_2000_attempts_by_500_buyers_admits_exactly_100(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 1000)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=100, per_buyer_limit=1)
    results = await rush(stack, room, sale["sale_id"], instances=("live",), buyers=500, attempts=2000)
    await check_exactly_sold(stack, room, seller, sale, results, 100)


async def test_two_instances_splitting_a_rush_still_admit_exactly_100(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 1000)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=100, per_buyer_limit=1)
    results = await rush(stack, room, sale["sale_id"], instances=("live", "live2"), buyers=500, attempts=2000)
    await check_exactly_sold(stack, room, seller, sale, results, 100)


async def test_a_rush_split_between_an_instance_that_locks_and_one_that_does_not_admits_exactly_100(
    stack: Stack,
) -> None:
    """One instance decides every batch under the room's and the sale's locks (as after repeated conflicts), the
    other on snapshots: their batches interleave and still admit exactly the sale's units."""
    engine = admissions_of(stack.apps["live"].runtime)
    seller = await seller_with_stock(stack, 1000)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=100, per_buyer_limit=1)
    before = await batch_writes(stack, "live")
    engine.optimistic_tries = 0
    try:
        results = await rush(stack, room, sale["sale_id"], instances=("live", "live2"), buyers=500, attempts=2000)
    finally:
        engine.optimistic_tries = OPTIMISTIC_TRIES
    await check_exactly_sold(stack, room, seller, sale, results, 100)
    after = await batch_writes(stack, "live")
    # The locking instance's batches show as such on its /metrics, and none of them was written optimistically.
    assert after["locked"] > before["locked"]
    assert (after["written"], after["conflict"]) == (before["written"], before["conflict"])


async def batch_writes(stack: Stack, instance: str) -> dict[str, float]:
    """The instance's flash-sale batch writes by result (written, conflict, locked), from its /metrics."""
    async with stack.client(instance) as client:
        return scenario.batch_counts((await client.get("/metrics")).text)


async def test_a_buyer_within_a_limit_of_two_gets_two_and_no_more_across_instances(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=50, per_buyer_limit=2)
    token = stack.infra.token("buyer")
    async with stack.client("live") as one, stack.client("live2") as two:
        responses = await asyncio.gather(
            *(buy(client, room.room_id, sale["sale_id"], token) for client in (one, two) * 10)
        )
    assert sorted(r.status_code for r in responses) == [201, 201] + [409] * 18
    assert {r.json()["type"] for r in responses if r.status_code == 409} == {PROBLEM + "limit-reached"}
    assert await remaining_is(stack, room.room_id, sale["sale_id"], 48)


async def test_one_buyers_burst_is_throttled_while_others_still_buy(stack: Stack) -> None:
    throttled = await stack.start_instance("live", "live_throttled", purchase_burst=3, purchase_rate_per_s=0.2)
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=50, per_buyer_limit=5)
    greedy = stack.infra.token("buyer")
    others = [stack.infra.token("buyer") for _ in range(5)]
    async with httpx.AsyncClient(base_url=throttled.url, timeout=30) as client:
        burst = await asyncio.gather(*(buy(client, room.room_id, sale["sale_id"], greedy) for _ in range(10)))
        polite = await asyncio.gather(*(buy(client, room.room_id, sale["sale_id"], token) for token in others))
    statuses = Counter(r.status_code for r in burst)
    assert statuses == {201: 3, 429: 7}
    for response in burst:
        if response.status_code == 429:
            assert response.headers["content-type"].startswith("application/problem+json")
            assert response.json()["type"] == PROBLEM + "too-many-requests"
            assert int(response.headers["retry-after"]) >= 1
    assert [r.status_code for r in polite] == [201] * 5
    assert await remaining_is(stack, room.room_id, sale["sale_id"], 50 - 3 - 5)

    # Once sold out, refusals are answered from memory: the burst limit still holds there.
    sold = await new_sale(stack, room, seller, quantity=1, per_buyer_limit=1)
    async with httpx.AsyncClient(base_url=throttled.url, timeout=30) as client:
        assert (await buy(client, room.room_id, sold["sale_id"], stack.infra.token("buyer"))).status_code == 201
        eager = stack.infra.token("buyer")
        burst = [await buy(client, room.room_id, sold["sale_id"], eager) for _ in range(6)]
    assert [r.status_code for r in burst] == [409, 409, 409, 429, 429, 429]
    assert all(int(r.headers["retry-after"]) >= 1 for r in burst if r.status_code == 429)


async def test_a_room_ending_during_a_rush_ends_the_sale_cleanly(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 1000)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=500, per_buyer_limit=1)

    async def end_soon() -> httpx.Response:
        # Once the first units are gone, while batches keep coming.
        async def selling() -> bool:
            return (await sale_view(stack, room.room_id, sale["sale_id"], "live2"))["remaining"] < 500

        await eventually(selling, timeout=30, interval=0.01)
        async with stack.client("live2", room.host) as host:
            return await host.post(f"/rooms/{room.room_id}/end")

    results, ended = await asyncio.gather(
        rush(stack, room, sale["sale_id"], instances=("live", "live2"), buyers=600, attempts=1200), end_soon()
    )
    # The room's end and the admission batches take the room row and the sale row in the same order:
    # nobody deadlocks, every purchase gets a decided answer.
    assert ended.status_code == 200, ended.text
    allowed = {"sold-out", "room-not-live", "sale-not-running", "limit-reached"}
    refused = {r.json()["type"].removeprefix(PROBLEM) for _, r in results if r.status_code != 201}
    assert {r.status_code for _, r in results} <= {201, 409}
    assert refused <= allowed, refused
    admitted = sum(1 for _, r in results if r.status_code == 201)
    async with stack.client("live", room.host) as host:
        report = (await host.get(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/report")).json()
    assert report["sale"]["status"] == "ended"
    assert (report["admitted_units"], report["admitted_units"] + report["returned_units"]) == (admitted, 500)
    await eventually(lambda: _available_is(stack, seller, 1000 - admitted), timeout=20)


async def _available_is(stack: Stack, seller: Seller, units: int) -> bool:
    return await available_in_shop(stack, seller) == units


# --- who may run a sale ------------------------------------------------------------------------


async def test_only_the_rooms_host_or_its_merchant_open_and_end_sales(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    infra = stack.infra
    outsiders = {
        "another host of the merchant": infra.token("host", merchant_id=seller.merchant_id),
        "another merchant": infra.token("merchant", merchant_id=str(uuid.uuid4())),
        "a host of another merchant": infra.token("host", merchant_id=str(uuid.uuid4())),
        "a buyer": infra.token("buyer"),
    }
    for who, token in outsiders.items():
        response = await open_sale(stack, room, seller, token=token)
        assert response.status_code == 403, (who, response.text)
    assert (await shop_sku(stack, seller))["stock_reserved"] == 0

    by_merchant = await new_sale(stack, room, seller, token=seller.token, quantity=5)
    by_host = await new_sale(stack, room, seller, quantity=5)
    for who, token in outsiders.items():
        async with stack.client("live", token) as client:
            response = await client.post(f"/rooms/{room.room_id}/flash-sales/{by_host['sale_id']}/end")
        assert response.status_code == 403, (who, response.text)
    assert (await sale_view(stack, room.room_id, by_host["sale_id"]))["status"] == "running"

    async with stack.client("live", seller.token) as merchant:
        ended = await merchant.post(f"/rooms/{room.room_id}/flash-sales/{by_host['sale_id']}/end")
    async with stack.client("live", room.host) as host:
        ended_too = await host.post(f"/rooms/{room.room_id}/flash-sales/{by_merchant['sale_id']}/end")
    assert (ended.status_code, ended.json()["status"]) == (200, "ended")
    assert (ended_too.status_code, ended_too.json()["status"]) == (200, "ended")


async def test_a_sale_sells_only_a_sku_of_the_rooms_bag_within_sane_terms(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    other = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    response = await open_sale(stack, room, seller, sku_id=other.sku_id)
    assert (response.status_code, response.json()["type"]) == (422, PROBLEM + "sku-not-in-bag")
    now = stack.clock.now()
    bad_terms = {
        "quantity": {"quantity": 0},
        "price_minor": {"price_minor": 0},
        "per_buyer_limit": {"per_buyer_limit": 0},
        "duration_s": {"duration_s": 1},
        "starts_at": {"starts_at": now - timedelta(minutes=5)},
        "pay_within_s": {"pay_within_s": 0},
    }
    for field, terms in bad_terms.items():
        response = await open_sale(stack, room, seller, **terms)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["field"] == field
    assert (await shop_sku(stack, seller))["stock_reserved"] == 0
    async with stack.client("live") as client:
        listed = await client.get(f"/rooms/{room.room_id}/flash-sales")
    assert listed.json() == {"items": []}


async def test_a_sale_larger_than_shops_stock_is_refused_and_shop_keeps_its_stock(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 5)
    room = await room_selling(stack, seller)
    response = await open_sale(stack, room, seller, quantity=6)
    assert response.status_code == 409, response.text
    body = response.json()
    assert (body["type"], body["available"]) == (PROBLEM + "insufficient-stock", 5)
    sku = await shop_sku(stack, seller)
    assert (sku["stock_on_hand"], sku["stock_reserved"]) == (5, 0)
    assert await available_in_shop(stack, seller) == 5


async def test_a_retried_creation_with_the_same_key_makes_one_sale_and_sets_stock_aside_once(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    key = uuid.uuid4().hex
    first, second = await asyncio.gather(
        open_sale(stack, room, seller, key=key, quantity=30), open_sale(stack, room, seller, key=key, quantity=30)
    )
    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert first.json()["sale_id"] == second.json()["sale_id"]
    assert (await shop_sku(stack, seller))["stock_reserved"] == 30
    other_body = await open_sale(stack, room, seller, key=key, quantity=31)
    assert (other_body.status_code, other_body.json()["type"]) == (422, PROBLEM + "idempotency-key-reused")
    async with stack.client("live") as client:
        listed = (await client.get(f"/rooms/{room.room_id}/flash-sales")).json()["items"]
    assert [(s["sale_id"], s["quantity"], s["remaining"]) for s in listed] == [(first.json()["sale_id"], 30, 30)]


# --- who may buy, when ---------------------------------------------------------------------------


async def test_purchases_are_refused_outside_a_live_room_and_a_running_sale(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    buyer = stack.infra.token("buyer")
    not_live = await room_selling(stack, seller, live=False)
    sale = await new_sale(stack, not_live, seller, quantity=5)
    response = await buy_once(stack, not_live.room_id, sale["sale_id"], buyer)
    assert (response.status_code, response.json()["type"]) == (409, PROBLEM + "room-not-live")

    room = await room_selling(stack, seller)
    later = await new_sale(stack, room, seller, quantity=5, starts_at=stack.clock.now() + timedelta(minutes=10))
    assert later["status"] == "scheduled"
    response = await buy_once(stack, room.room_id, later["sale_id"], buyer)
    assert (response.status_code, response.json()["type"]) == (409, PROBLEM + "sale-not-running")

    ended = await new_sale(stack, room, seller, quantity=5)
    async with stack.client("live", room.host) as host:
        assert (await host.post(f"/rooms/{room.room_id}/flash-sales/{ended['sale_id']}/end")).status_code == 200
    for key in ("live", "live2"):
        async with stack.client(key) as client:
            response = await buy(client, room.room_id, ended["sale_id"], buyer)
        assert (response.status_code, response.json()["type"]) == (409, PROBLEM + "sale-not-running")

    # Another room's sale by path is not there at all.
    response = await buy_once(stack, not_live.room_id, later["sale_id"], buyer)
    assert response.status_code == 404, response.text
    response = await buy_once(stack, room.room_id, str(uuid.uuid4()), buyer)
    assert response.status_code == 404, response.text


async def test_only_buyers_with_a_key_and_a_sane_quantity_may_buy(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=5, per_buyer_limit=2)
    path = f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/purchase"
    async with stack.client("live", room.host) as host:
        response = await host.post(path, json={"quantity": 1}, headers={"Idempotency-Key": "k"})
    assert response.status_code == 403
    async with stack.client("live", stack.infra.token("buyer")) as buyer:
        missing = await buyer.post(path, json={"quantity": 1})
        zero = await buyer.post(path, json={"quantity": 0}, headers={"Idempotency-Key": "a"})
        too_many = await buyer.post(path, json={"quantity": 3}, headers={"Idempotency-Key": "b"})
    assert (missing.status_code, missing.json()["type"]) == (400, PROBLEM + "idempotency-key-required")
    assert (zero.status_code, zero.json()["field"]) == (422, "quantity")
    assert (too_many.status_code, too_many.json()["field"]) == (422, "quantity")
    assert await remaining_is(stack, room.room_id, sale["sale_id"], 5)


async def test_a_retried_purchase_gets_the_same_admission_and_limits_and_sold_out_hold(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=3, per_buyer_limit=2)
    alice, bob, carol = (stack.infra.token("buyer") for _ in range(3))
    first = await buy_once(stack, room.room_id, sale["sale_id"], alice, key="alice-1", quantity=2)
    assert first.status_code == 201, first.text
    admission = first.json()
    assert admission["quantity"] == 2
    assert admission["unit_price_minor"] == SALE_PRICE
    assert admission["currency"] == "USD"
    assert admission["status"] == "admitted"
    for key in ("live", "live2"):
        async with stack.client(key) as client:
            again = await buy(client, room.room_id, sale["sale_id"], alice, key="alice-1", quantity=2)
        assert (again.status_code, again.json()) == (201, admission)
    changed = await buy_once(stack, room.room_id, sale["sale_id"], alice, key="alice-1", quantity=1)
    assert (changed.status_code, changed.json()["type"]) == (422, PROBLEM + "idempotency-key-reused")
    over = await buy_once(stack, room.room_id, sale["sale_id"], alice, key="alice-2")
    assert (over.status_code, over.json()["type"]) == (409, PROBLEM + "limit-reached")

    last = await buy_once(stack, room.room_id, sale["sale_id"], bob, key="bob-1")
    assert last.status_code == 201, last.text
    for key in ("live", "live2"):
        async with stack.client(key) as client:
            late = await buy(client, room.room_id, sale["sale_id"], carol)
            replay = await buy(client, room.room_id, sale["sale_id"], bob, key="bob-1")
        assert (late.status_code, late.json()["type"]) == (409, PROBLEM + "sold-out")
        assert late.headers["content-type"].startswith("application/problem+json")
        assert late.json()["instance"] == f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/purchase"
        assert set(late.json()) == {"type", "title", "status", "detail", "instance", "request_id"}
        assert late.json()["request_id"] == late.headers["x-request-id"]
        # Sold out is answered from memory, but a retried key still finds its admission.
        assert (replay.status_code, replay.json()) == (201, last.json())
    view = await sale_view(stack, room.room_id, sale["sale_id"])
    assert (view["remaining"], view["quantity"], view["status"]) == (0, 3, "running")

    async with stack.client("live", room.host) as host:
        report = (await host.get(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/report")).json()
    assert (report["admitted_units"], report["buyers"], report["paid_units"]) == (3, 2, 0)
    async with stack.client("live", carol) as buyer:
        hidden = await buyer.get(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/report")
    assert hidden.status_code == 403


async def test_the_room_state_shows_open_sales_with_units_left(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 100)
    room = await room_selling(stack, seller)
    running = await new_sale(stack, room, seller, quantity=4)
    later = await new_sale(stack, room, seller, quantity=2, starts_at=stack.clock.now() + timedelta(minutes=5))
    await buy_once(stack, room.room_id, running["sale_id"], stack.infra.token("buyer"))

    async with stack.client("live2") as client:
        state = await client.get(f"/rooms/{room.room_id}/state")
    assert state.status_code == 200, state.text
    shown = {s["sale_id"]: (s["status"], s["remaining"]) for s in state.json()["sales"]}
    assert shown == {running["sale_id"]: ("running", 3), later["sale_id"]: ("scheduled", 2)}
