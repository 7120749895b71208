"""A short video's funnel (issue 11, "Done when"): plays and anchor clicks reported by clients, a cart line and a
checkout naming the video through the real shop and orders, paid at Stripe and refunded by the buyer's cancel. The
funnel API, the read model's rows and the `liveloop.funnel.step` metric points agree exactly."""

from __future__ import annotations

import uuid
from collections import Counter

import asyncpg

from tests.harness import Stack, eventually
from tests.integration.live.funnel.reading import fact_counts, funnel, minute_rows, money, step_points
from tests.integration.live.support import LIST_PRICE, seller_with_stock
from tests.integration.orders.support import pay_checkout

SERVICES = ("shop", "orders", "live")

WATCHED_S = (10.0, 20.0, 30.0, 40.0, 50.0, 60.0)  # six plays by five viewers (the first plays twice)
STEPS = {"video_play": 6, "anchor_click": 3, "cart": 1, "order": 1, "paid": 1, "refund": 1}


async def test_a_videos_plays_clicks_cart_order_payment_and_refund_agree(stack: Stack, db: asyncpg.Connection) -> None:
    before = step_points(stack.metrics["live"])
    seller = await seller_with_stock(stack, 20)
    host_id = f"host-{uuid.uuid4().hex[:8]}"
    host = stack.infra.token("host", sub=host_id, merchant_id=seller.merchant_id)

    async def published() -> dict | None:
        async with stack.client("live", host) as client:
            response = await client.post(
                "/videos",
                json={
                    "title": "How to tie a linen shirt",
                    "media_url": "https://cdn.example/v/1.mp4",
                    "duration_s": 60,
                    "anchors": [{"product_id": seller.product_id}],
                },
            )
        return response.json() if response.status_code == 201 else None  # until live has heard of the product

    video_id = (await eventually(published, timeout=20))["video_id"]
    viewers = [f"viewer-{i}-{uuid.uuid4().hex[:6]}" for i in range(5)]
    tokens = {sub: stack.infra.token("buyer", sub=sub) for sub in viewers}
    at = stack.clock.now().isoformat()

    async def taps(sub: str, *events: dict) -> None:
        async with stack.client("live", tokens[sub]) as client:
            response = await client.post("/funnel/events", json={"events": list(events)})
        assert response.status_code == 202, response.text

    play = {"kind": "video_play", "at": at, "video_id": video_id, "completed": False}
    players = [viewers[0], *viewers]
    for n, (sub, watched) in enumerate(zip(players, WATCHED_S, strict=True)):
        await taps(sub, play | {"play_id": f"play-{n}", "watch_s": watched})
    anchor = {"kind": "anchor_click", "at": at, "video_id": video_id, "product_id": seller.product_id}
    for sub in viewers[:3]:
        await taps(sub, anchor)

    # The first viewer buys: a cart line from the video in shop, a checkout naming it, paid, then cancelled (refunded).
    buyer = tokens[viewers[0]]
    async with stack.client("shop", buyer) as shop:
        line = await shop.post(
            "/cart/items",
            json={"sku_id": seller.sku_id, "quantity": 1, "source": {"type": "video", "id": video_id}},
        )
    assert line.status_code == 201, line.text
    async with stack.client("orders", buyer) as orders:
        paid = await pay_checkout(stack, orders, [{"sku_id": seller.sku_id, "quantity": 1, "video_id": video_id}])
        order_id = paid["orders"][0]["order_id"]
        cancelled = await orders.post(f"/orders/{order_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text

    path = f"/videos/{video_id}/funnel"

    async def refunded() -> dict | None:
        body = await funnel(stack, path, host)
        return body if body["refunds"] >= 1 and body["views"] >= len(WATCHED_S) and body["clicks"] >= 3 else None

    body = await eventually(refunded, timeout=30)
    assert {
        k: body[k]
        for k in ("views", "unique_viewers", "average_watch_s", "clicks", "unique_clickers", "carts", "orders")
    } == {
        "views": 6,
        "unique_viewers": 5,
        "average_watch_s": 35.0,
        "clicks": 3,
        "unique_clickers": 3,
        "carts": 1,
        "orders": 1,
    }
    assert (body["paid_orders"], body["buyers"], body["refunds"]) == (1, 1, 1)
    assert money(body) == {
        "currency": "USD",
        "gross_paid_minor": LIST_PRICE,
        "refunded_minor": LIST_PRICE,
        "net_minor": 0,
        "gpm_minor": (2 * LIST_PRICE * 1000 + 6) // 12,
        "uv_value_minor": (2 * LIST_PRICE + 5) // 10,
    }
    assert body["conversion"] == {
        "view_to_click": 0.5,
        "click_to_cart": 0.3333,
        "cart_to_order": 1.0,
        "order_to_paid": 1.0,
    }
    # The merchant reads the same; the video's host page of figures counts it too.
    merchant = stack.infra.token("merchant", merchant_id=seller.merchant_id)
    assert (await funnel(stack, path, merchant))["paid_orders"] == 1
    assert (await funnel(stack, f"/hosts/{host_id}/funnel", host))["views"] == 6

    facts = await fact_counts(db, "video_id", video_id)
    assert {step: facts[step] for step in STEPS} == STEPS
    rows = await minute_rows(db, "video", video_id)
    assert {step: rows[step]["n"] for step in STEPS} == STEPS
    assert (rows["paid"]["amount"], rows["refund"]["amount"]) == (LIST_PRICE, LIST_PRICE)

    async def counted() -> Counter[str] | None:
        points = step_points(stack.metrics["live"])
        delta = Counter({step: points[step] - before[step] for step in points})
        return delta if {step: delta[step] for step in STEPS} == STEPS else None

    delta = await eventually(counted, timeout=5)
    assert +delta == Counter(STEPS), delta  # this module's only test: nothing else was counted
