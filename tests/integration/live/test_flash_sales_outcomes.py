"""What becomes of admitted units: paid (order paid, room counted), unpaid (back to the sale), unsold (back to shop)."""

from __future__ import annotations

from datetime import timedelta

from tests.harness import PROBLEM, Stack, eventually
from tests.integration.live.support import (
    SALE_PRICE,
    UNTHROTTLED,
    Room,
    available_in_shop,
    buy,
    buy_once,
    control,
    new_sale,
    order_of,
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


async def report(stack: Stack, room: Room, sale_id: str) -> dict:
    async with stack.client("live", room.host) as host:
        response = await host.get(f"/rooms/{room.room_id}/flash-sales/{sale_id}/report")
    assert response.status_code == 200, response.text
    return response.json()


async def order_status_is(stack: Stack, token: str, order_id: str, status: str) -> bool:
    order = await order_of(stack, token, order_id)
    return order is not None and order["status"] == status


async def test_unpaid_admissions_expire_and_their_units_go_to_other_buyers(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=2, per_buyer_limit=1, pay_within_s=60, duration_s=3600)
    sale_id = sale["sale_id"]
    alice, bob, carol, dave = (stack.infra.token("buyer") for _ in range(4))
    admitted = []
    for token in (alice, bob):
        response = await buy_once(stack, room.room_id, sale_id, token, key="first")
        assert response.status_code == 201, response.text
        admitted.append((token, response.json()))
    # Both instances have seen the sale sell out.
    for key in ("live", "live2"):
        async with stack.client(key) as client:
            refused = await buy(client, room.room_id, sale_id, carol)
        assert (refused.status_code, refused.json()["type"]) == (409, PROBLEM + "sold-out")
    await orders_of(stack, admitted)

    stack.clock.advance(61)
    for token, admission in admitted:
        await eventually(lambda t=token, a=admission: order_status_is(stack, t, a["order_id"], "cancelled"), timeout=20)
    await eventually(lambda: remaining_is(stack, room.room_id, sale_id, 2), timeout=20)

    async def buys(key: str, token: str) -> dict | None:
        async with stack.client(key) as client:
            response = await buy(client, room.room_id, sale_id, token, key=f"second-chance-{key}")
        return response.json() if response.status_code == 201 else None

    second = [await eventually(lambda: buys("live2", carol)), await eventually(lambda: buys("live", dave))]
    assert await remaining_is(stack, room.room_id, sale_id, 0)
    await orders_of(stack, list(zip((carol, dave), second, strict=True)))
    counts = await report(stack, room, sale_id)
    assert (counts["expired_units"], counts["admitted_units"], counts["buyers"]) == (2, 2, 2)
    # The expired units never left the sale: shop still holds exactly the sale's two units aside.
    sku = await shop_sku(stack, seller)
    assert (sku["stock_on_hand"], sku["stock_reserved"]) == (50, 2)
    # An expired buyer's old key still names its (lapsed) admission; a fresh attempt of theirs is a new one.
    async with stack.client("live") as client:
        replay = await buy(client, room.room_id, sale_id, alice, key="first")
        fresh = await buy(client, room.room_id, sale_id, alice)
    assert (replay.status_code, replay.json()) == (201, admitted[0][1])
    assert (fresh.status_code, fresh.json()["type"]) == (409, PROBLEM + "sold-out")


async def test_a_paid_admission_completes_its_order_and_counts_for_the_room(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 20)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=3, per_buyer_limit=1, pay_within_s=60)
    buyer = stack.infra.token("buyer")
    response = await buy_once(stack, room.room_id, sale["sale_id"], buyer)
    assert response.status_code == 201, response.text
    admission = response.json()
    (order,) = await orders_of(stack, [(buyer, admission)])
    assert (order["order_id"], order["amount_minor"]) == (admission["order_id"], SALE_PRICE)

    async with stack.client("orders", buyer) as orders:
        paid = await orders.post(f"/payments/{order['payment_id']}/confirm", json={"payment_method": "pm_card_visa"})
    assert paid.status_code == 202, paid.text
    await eventually(lambda: order_status_is(stack, buyer, order["order_id"], "paid"), timeout=20)

    async def room_counted() -> dict | None:
        async with stack.client("live", room.host) as host:
            stats = (await host.get(f"/rooms/{room.room_id}/stats")).json()
        return stats if stats["paid_orders"] else None

    stats = await eventually(room_counted, timeout=20)
    assert (stats["paid_orders"], stats["paid_amount_minor"], stats["currency"]) == (1, SALE_PRICE, "USD")
    await eventually(lambda: _paid_units_are(stack, room, sale["sale_id"], 1), timeout=20)

    async def sold_in_shop() -> bool:
        sku = await shop_sku(stack, seller)
        return (sku["stock_on_hand"], sku["stock_reserved"]) == (19, 2)

    await eventually(sold_in_shop, timeout=20)
    # The payment window passing changes nothing for a paid admission.
    stack.clock.advance(61)
    await eventually(lambda: _paid_units_are(stack, room, sale["sale_id"], 1), timeout=5)
    assert await remaining_is(stack, room.room_id, sale["sale_id"], 2)
    assert await order_status_is(stack, buyer, order["order_id"], "paid")


async def _paid_units_are(stack: Stack, room: Room, sale_id: str, units: int) -> bool:
    return (await report(stack, room, sale_id))["paid_units"] == units


async def test_ending_a_sale_gives_unsold_units_back_to_shop_and_late_expiries_follow(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=6, pay_within_s=60)
    buyer = stack.infra.token("buyer")
    assert (await buy_once(stack, room.room_id, sale["sale_id"], buyer)).status_code == 201
    await eventually(lambda: _available_is(stack, seller, 4), timeout=10)

    async with stack.client("live", room.host) as host:
        ended = await host.post(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/end")
    assert ended.status_code == 200, ended.text
    assert (ended.json()["status"], ended.json()["remaining"]) == ("ended", 0)
    # The five unsold units are on the shelf again; the admitted one waits for its buyer.
    await eventually(lambda: _available_is(stack, seller, 9), timeout=20)
    assert (await report(stack, room, sale["sale_id"]))["returned_units"] == 5

    # That buyer never pays: after the end, the unit goes to shop rather than back to the sale.
    stack.clock.advance(61)
    await eventually(lambda: _available_is(stack, seller, 10), timeout=20)
    counts = await report(stack, room, sale["sale_id"])
    assert (counts["returned_units"], counts["expired_units"], counts["sale"]["remaining"]) == (6, 1, 0)
    sku = await shop_sku(stack, seller)
    assert (sku["stock_on_hand"], sku["stock_reserved"]) == (10, 0)


async def _available_is(stack: Stack, seller, units: int) -> bool:
    return await available_in_shop(stack, seller) == units


async def test_a_sale_cancelled_before_it_starts_gives_every_unit_back(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    sale = await new_sale(stack, room, seller, quantity=4, starts_at=stack.clock.now() + timedelta(minutes=10))
    await eventually(lambda: _available_is(stack, seller, 6), timeout=10)
    async with stack.client("live", seller.token) as merchant:
        ended = await merchant.post(f"/rooms/{room.room_id}/flash-sales/{sale['sale_id']}/end")
    assert (ended.status_code, ended.json()["status"]) == (200, "ended")
    await eventually(lambda: _available_is(stack, seller, 10), timeout=20)
    assert (await report(stack, room, sale["sale_id"]))["end_reason"] == "cancelled"


async def test_a_sale_starts_and_ends_by_the_clock(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    starts_at = stack.clock.now() + timedelta(seconds=90)
    sale = await new_sale(stack, room, seller, quantity=4, starts_at=starts_at, duration_s=120)
    buyer = stack.infra.token("buyer")
    early = await buy_once(stack, room.room_id, sale["sale_id"], buyer)
    assert (early.status_code, early.json()["type"]) == (409, PROBLEM + "sale-not-running")

    stack.clock.advance(91)
    assert (await sale_view(stack, room.room_id, sale["sale_id"]))["status"] == "running"
    assert (await buy_once(stack, room.room_id, sale["sale_id"], buyer)).status_code == 201

    stack.clock.advance(121)
    for key in ("live", "live2"):
        async with stack.client(key) as client:
            late = await buy(client, room.room_id, sale["sale_id"], stack.infra.token("buyer"))
        assert (late.status_code, late.json()["type"]) == (409, PROBLEM + "sale-not-running")
    # The end job gives the three unsold units back.
    await eventually(lambda: _available_is(stack, seller, 9), timeout=20)
    assert (await report(stack, room, sale["sale_id"]))["end_reason"] == "time"


async def test_ending_the_room_ends_its_sales(stack: Stack) -> None:
    seller = await seller_with_stock(stack, 10)
    room = await room_selling(stack, seller)
    running = await new_sale(stack, room, seller, quantity=3)
    later = await new_sale(stack, room, seller, quantity=2, starts_at=stack.clock.now() + timedelta(minutes=30))
    await eventually(lambda: _available_is(stack, seller, 5), timeout=10)
    await control(stack, room, "end")
    for sale in (running, later):
        view = await sale_view(stack, room.room_id, sale["sale_id"])
        assert (view["status"], view["remaining"]) == ("ended", 0)
    await eventually(lambda: _available_is(stack, seller, 10), timeout=20)
    response = await buy_once(stack, room.room_id, running["sale_id"], stack.infra.token("buyer"))
    assert response.status_code == 409
