"""The scripted live session (issue 11, "Done when"): 200 viewers join, 60 click a product, 30 put it in the cart,
20 order, 15 pay (one through the real shop, orders and Stripe), 2 are refunded and 1 voucher is redeemed; the room
ends (its 200 visits end, 20 of them watched) and goes live again for 5 more viewers and a click. The funnel API, the
read model's rows and the `liveloop.funnel.step` metric points agree exactly, per room and per session."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg

from tests.harness import Stack, eventually, publish
from tests.integration.live.funnel.reading import (
    Order,
    cart_added,
    fact_counts,
    funnel,
    funnel_reaches,
    minute_rows,
    order_line,
    step_points,
)
from tests.integration.live.support import LIST_PRICE, control, room_selling, seller_with_stock
from tests.integration.orders.support import pay_checkout

SERVICES = ("shop", "orders", "live")
# 200 viewers each send one batch of taps; the throttle is not what this test is about.
SETTINGS = {"funnel_tap_burst": 1000, "funnel_tap_rate_per_s": 1000.0}

VIEWERS, CLICKS, CARTS, ORDERS, PAID, REFUNDED = 200, 60, 30, 20, 15, 2
PRICE, DEAL_PRICE = 2500, 8800
HEARTS, LATE = 20, 5
FIGURES = (
    "views",
    "unique_viewers",
    "clicks",
    "unique_clickers",
    "carts",
    "orders",
    "paid_orders",
    "buyers",
    "refunds",
    "vouchers_paid",
    "vouchers_redeemed",
)
STEPS = {
    "view": VIEWERS,
    "click": CLICKS,
    "cart": CARTS,
    "order": ORDERS,
    "paid": PAID,
    "refund": REFUNDED,
    "voucher_redeemed": 1,
}


async def test_a_scripted_session_agrees_in_the_api_the_rows_and_the_metric(
    stack: Stack, db: asyncpg.Connection
) -> None:
    before = step_points(stack.metrics["live"])
    seller = await seller_with_stock(stack, 50)
    room = await room_selling(stack, seller)
    session_id = str(await db.fetchval("SELECT session_id FROM live.room_sessions WHERE room_id = $1", room.room_id))
    viewers = [f"viewer-{i:03d}-{uuid.uuid4().hex[:6]}" for i in range(VIEWERS)]
    tokens = {sub: stack.infra.token("buyer", sub=sub) for sub in viewers}
    at = stack.clock.now()

    # 200 viewers join over HTTP; 60 of them click the product in the bag (one tap batch each).
    gate = asyncio.Semaphore(20)

    async def as_viewer(sub: str, method: str, path: str, json: object | None = None) -> None:
        async with gate, stack.client("live", tokens[sub]) as client:
            response = await client.request(method, path, json=json)
        assert response.status_code in (200, 202), response.text

    await asyncio.gather(*(as_viewer(sub, "POST", f"/rooms/{room.room_id}/join") for sub in viewers))
    # The last 20 to join still watch 5 s later (a heartbeat each, well within the presence timeout however slowly the
    # joins went); the others only joined, which is no watch time.
    stack.clock.advance(5)
    await asyncio.gather(*(as_viewer(sub, "POST", f"/rooms/{room.room_id}/heartbeat") for sub in viewers[-HEARTS:]))
    click = {"kind": "click", "at": at.isoformat(), "room_id": room.room_id, "product_id": seller.product_id}
    await asyncio.gather(
        *(
            as_viewer(sub, "POST", "/funnel/events", {"events": [click | {"surface": "bag"}]})
            for sub in viewers[:CLICKS]
        )
    )

    # 30 carts, 19 orders placed and 14 of them paid (one a local-life deal), as shop's and orders' relays publish
    # them; the 20th order is a real checkout of the room's product, paid at Stripe.
    for sub in viewers[:CARTS]:
        await publish(
            stack,
            cart_added(sub, seller.product_id, room.merchant_id, at, source_type="room", source_id=room.room_id),
        )
    deal_id = str(uuid.uuid4())
    orders = [
        Order(
            sub,
            room.merchant_id,
            order_line(seller.product_id, DEAL_PRICE, room_id=room.room_id, deal_id=deal_id)
            if i == 0
            else order_line(seller.product_id, PRICE, room_id=room.room_id),
            at,
        )
        for i, sub in enumerate(viewers[: ORDERS - 1])
    ]
    for order in orders:
        await publish(stack, order.placed())
    for order in orders[: PAID - 1]:
        await publish(stack, order.paid())
    async with stack.client("orders", stack.infra.token("buyer")) as shopper:
        real = await pay_checkout(stack, shopper, [{"sku_id": seller.sku_id, "quantity": 1, "room_id": room.room_id}])
    assert real["status"] == "paid"

    room_path = f"/rooms/{room.room_id}/funnel"
    await funnel_reaches(stack, room_path, room.host, paid_orders=PAID)
    # Refunds and the redemption follow what they refund and redeem (their lines are attributed by then).
    for order in orders[1:3]:
        await publish(stack, order.refunded(PRICE))
    await publish(stack, orders[0].redeemed())
    await funnel_reaches(stack, room_path, room.host, refunds=REFUNDED, vouchers_redeemed=1)

    # The room ends: 200 visits end with their watch time. It goes live again: a second session, where 5 new viewers
    # join and one of them clicks.
    await control(stack, room, "end")
    await control(stack, room, "start")
    second_id = str(
        await db.fetchval(
            "SELECT session_id FROM live.room_sessions WHERE room_id = $1 AND ended_at IS NULL", room.room_id
        )
    )
    late = [f"late-{i}-{uuid.uuid4().hex[:6]}" for i in range(LATE)]
    tokens |= {sub: stack.infra.token("buyer", sub=sub) for sub in late}
    await asyncio.gather(*(as_viewer(sub, "POST", f"/rooms/{room.room_id}/join") for sub in late))
    click["at"] = stack.clock.now().isoformat()
    await as_viewer(late[0], "POST", "/funnel/events", {"events": [click | {"surface": "pinned"}]})

    async def all_in() -> bool:
        body = await funnel(stack, room_path, room.host)
        ended = (await fact_counts(db, "room_id", room.room_id))["watch"]
        return (body["views"], body["clicks"], ended) == (VIEWERS + LATE, CLICKS + 1, VIEWERS)

    await eventually(all_in, timeout=30)

    gross = (PAID - 2) * PRICE + DEAL_PRICE + LIST_PRICE
    first = dict(STEPS, watch=VIEWERS)
    second = {"view": LATE, "click": 1}
    whole = dict(first, view=VIEWERS + LATE, click=CLICKS + 1)
    scopes = [
        ("room", "room_id", room.room_id, room_path, room.host, whole),
        (
            "session",
            "session_id",
            session_id,
            f"/rooms/{room.room_id}/sessions/{session_id}/funnel",
            room.merchant,
            first,
        ),
        ("session", "session_id", second_id, f"/rooms/{room.room_id}/sessions/{second_id}/funnel", room.host, second),
    ]
    for scope, column, scope_id, path, token, steps in scopes:
        # The API: each figure by its definition from the steps taken in the scope.
        body = await funnel(stack, path, token)
        views, clicks, carts = steps["view"], steps["click"], steps.get("cart", 0)
        orders_n, paid_n = steps.get("order", 0), steps.get("paid", 0)
        paid_gross = gross if paid_n else 0
        assert {k: body[k] for k in FIGURES} == {
            "views": views,
            "unique_viewers": views,
            "clicks": clicks,
            "unique_clickers": clicks,
            "carts": carts,
            "orders": orders_n,
            "paid_orders": paid_n,
            "buyers": paid_n,
            "refunds": steps.get("refund", 0),
            "vouchers_paid": 1 if paid_n else 0,
            "vouchers_redeemed": steps.get("voucher_redeemed", 0),
        }, path
        assert body["conversion"] == {
            "view_to_click": rate(clicks, views),
            "click_to_cart": rate(carts, clicks),
            "cart_to_order": rate(orders_n, carts),
            "order_to_paid": rate(paid_n, orders_n),
        }, path
        takings = {
            "currency": "USD",
            "gross_paid_minor": paid_gross,
            "refunded_minor": REFUNDED * PRICE,
            "net_minor": paid_gross - REFUNDED * PRICE,
            "gpm_minor": (2 * paid_gross * 1000 + views) // (2 * views),
            "uv_value_minor": (2 * paid_gross + views) // (2 * views),
        }
        assert body["money"] == ([takings] if paid_n else []), path
        # The chart's minutes add up to the totals.
        assert sum(p["views"] for p in body["series"]) == views, path
        assert sum(p["paid_orders"] for p in body["series"]) == paid_n, path
        assert sum(sum(p["gross_paid_minor"].values()) for p in body["series"]) == paid_gross, path

        # The rows: one fact per step taken, the same counts in the scope's rollups, the same amounts.
        facts = await fact_counts(db, column, scope_id)
        assert +facts == Counter(steps), path
        rows = await minute_rows(db, scope, scope_id)
        assert {step: row["n"] for step, row in rows.items()} == steps, path
        # Watch time: the ended visits' seconds over their number, as the rows have them.
        if "watch" in steps:
            assert body["average_watch_s"] == round(rows["watch"]["watch_s"] / rows["watch"]["n"], 1), path
            assert body["average_watch_s"] >= 5 * HEARTS / VIEWERS, path
        else:
            assert body["average_watch_s"] is None, path
        if paid_n:
            assert (rows["paid"]["amount"], rows["refund"]["amount"]) == (gross, REFUNDED * PRICE), path

    # The metric: each fact counted once (this module's only test: every point since it began is this room's).
    async def counted() -> Counter[str] | None:
        points = step_points(stack.metrics["live"])
        delta = Counter({step: points[step] - before[step] for step in points})
        return delta if +delta == Counter(whole) else None

    assert await eventually(counted, timeout=5)


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)
