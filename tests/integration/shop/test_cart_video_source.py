"""A cart line from a short video: live vouches that the video is there and anchors the product (else the line is
refused), the reservation carries the video on, and every put that adds units announces `CartItemAdded` with its
source.

Real shop, live, Postgres and NATS: the video is published over live's API, anchoring a product live heard of from
shop's own events.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import asyncpg
import httpx
import msgspec

from libs.contracts import RESERVE_STOCK, CartItemAdded, ReserveItem, ReserveStock, ReserveStockReply
from tests.harness import Infra, Stack, assert_problem
from tests.integration.live.test_videos import body, publish_when_known
from tests.integration.orders.support import Seller, seller_with_skus

SERVICES = ("live", "shop")


async def seller_and_video(stack: Stack, infra: Infra) -> tuple[Seller, str, Seller]:
    """A seller with an SKU of one product, a video anchoring that product, and a second product of another seller."""
    seller = await seller_with_skus(stack, (2599, 10), (2799, 10))
    host = infra.token("host", merchant_id=seller.merchant_id)
    video = await publish_when_known(stack, host, body({"product_id": seller.product_id}))
    other = await seller_with_skus(stack, (1000, 10))
    return seller, video["video_id"], other


def new_buyer(stack: Stack, infra: Infra) -> tuple[str, httpx.AsyncClient]:
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    return buyer_id, stack.client("shop", infra.token("buyer", sub=buyer_id))


async def put(client: httpx.AsyncClient, sku_id: str, quantity: int, video_id: str | None = None) -> httpx.Response:
    source = {"source": {"type": "video", "id": video_id}} if video_id else {}
    return await client.post("/cart/items", json={"sku_id": sku_id, "quantity": quantity, **source})


async def items_added(db: asyncpg.Connection, buyer_id: str) -> list[CartItemAdded]:
    """The CartItemAdded events shop's outbox holds for the buyer, oldest first."""
    rows = await db.fetch(
        """SELECT payload FROM shop.outbox
           WHERE subject = $1 AND convert_from(payload, 'UTF8')::jsonb ->> 'buyer_id' = $2
           ORDER BY seq""",
        CartItemAdded.SUBJECT,
        buyer_id,
    )
    return [msgspec.json.decode(r["payload"], type=CartItemAdded) for r in rows]


async def reserve(stack: Stack, buyer_id: str, *items: ReserveItem) -> ReserveStockReply:
    reply = await stack.apps["shop"].runtime.bus.request(
        RESERVE_STOCK,
        ReserveStock(
            checkout_id=str(uuid.uuid4()),
            buyer_id=buyer_id,
            items=list(items),
            hold_until=stack.clock.now() + timedelta(hours=1),
        ),
        ReserveStockReply,
    )
    assert reply.ok, reply
    return reply


async def test_a_line_from_a_video_anchoring_the_product_is_verified_and_carried_to_the_reservation(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller, video_id, _ = await seller_and_video(stack, infra)
    m, large = seller.sku_ids
    buyer_id, client = new_buyer(stack, infra)
    async with client:
        added = await put(client, m, 1, video_id)
        assert added.status_code == 201, added.text
        assert added.json()["source"] == {"type": "video", "id": video_id, "verified": True}
        # The cart page changes the quantity without a source: the line keeps its video.
        assert (await put(client, m, 3)).status_code == 200
        assert (await put(client, large, 1)).status_code == 201
        cart = (await client.get("/cart")).json()["items"]
    assert [(line["quantity"], line["source"]) for line in cart] == [
        (3, {"type": "video", "id": video_id, "verified": True}),
        (1, None),
    ]

    # At checkout the reservation names the video the line came from; an item naming its own source wins.
    reply = await reserve(stack, buyer_id, ReserveItem(sku_id=m, quantity=1), ReserveItem(sku_id=large, quantity=1))
    assert [(line.room_id, line.video_id) for line in reply.lines] == [(None, video_id), (None, None)]
    room_id = str(uuid.uuid4())
    reply = await reserve(stack, buyer_id, ReserveItem(sku_id=m, quantity=1, room_id=room_id))
    assert [(line.room_id, line.video_id) for line in reply.lines] == [(room_id, None)]
    reply = await reserve(stack, buyer_id, ReserveItem(sku_id=large, quantity=1, video_id=video_id))
    assert [line.video_id for line in reply.lines] == [video_id]


async def test_every_put_that_adds_units_announces_the_cart_step_with_its_source(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller, video_id, _ = await seller_and_video(stack, infra)
    m, large = seller.sku_ids
    buyer_id, client = new_buyer(stack, infra)
    async with client:
        assert (await put(client, m, 1, video_id)).status_code == 201
        assert (await put(client, m, 3)).status_code == 200  # two more
        assert (await put(client, m, 2)).status_code == 200  # fewer: no step
        assert (await put(client, m, 2)).status_code == 200  # the same: no step
        assert (
            await client.post(
                "/cart/items", json={"sku_id": large, "quantity": 1, "source": {"type": "search", "id": "tea"}}
            )
        ).status_code == 201

    added = await items_added(db, buyer_id)
    assert [(e.sku_id, e.quantity, e.source_type, e.source_id, e.source_verified) for e in added] == [
        (m, 1, "video", video_id, True),
        (m, 2, "video", video_id, True),
        (large, 1, "search", "tea", False),
    ]
    assert {(e.product_id, e.merchant_id, e.currency) for e in added} == {
        (seller.product_id, seller.merchant_id, "USD")
    }
    assert [e.unit_price_minor for e in added] == [2599, 2599, 2799]
    # One fact per put: the funnel counts each once however often the event is republished.
    assert len({e.fact_key for e in added}) == 3
    assert all(e.fact_key == f"{buyer_id}:{e.sku_id}:{e.added_at.isoformat()}" for e in added)


async def test_a_video_that_does_not_anchor_the_product_or_is_gone_is_refused_and_adds_nothing(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller, video_id, other = await seller_and_video(stack, infra)
    buyer_id, client = new_buyer(stack, infra)
    async with client:
        assert_problem(await put(client, other.sku_id, 1, video_id), 422, "video-not-anchoring", "source.id")
        assert_problem(await put(client, seller.sku_id, 1, str(uuid.uuid4())), 422, "unknown-video", "source.id")
        assert_problem(await put(client, seller.sku_id, 1, "clip-7"), 422, "unknown-video", "source.id")
        async with stack.client("live", infra.token("merchant", merchant_id=seller.merchant_id)) as live:
            assert (await live.delete(f"/videos/{video_id}")).status_code == 204
        assert_problem(await put(client, seller.sku_id, 1, video_id), 422, "unknown-video", "source.id")
        assert (await client.get("/cart")).json()["items"] == []
    assert await items_added(db, buyer_id) == []


async def test_a_video_live_cannot_vouch_for_is_kept_unverified(
    stack: Stack, infra: Infra, db: asyncpg.Connection
) -> None:
    seller = await seller_with_skus(stack, (2599, 10))
    video_id = str(uuid.uuid4())  # live would refuse it, but live is not there to ask
    buyer_id, client = new_buyer(stack, infra)
    async with client, stack.down("live"):
        added = await put(client, seller.sku_id, 1, video_id)
    assert added.status_code == 201, added.text
    assert added.json()["source"] == {"type": "video", "id": video_id, "verified": False}
    (event,) = await items_added(db, buyer_id)
    assert (event.source_type, event.source_id, event.source_verified) == ("video", video_id, False)
