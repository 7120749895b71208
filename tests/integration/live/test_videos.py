"""Short videos: published by a host of a merchant (or the merchant) with product and deal anchors live knows, read by
buyers with the anchors priced, listed newest first, deleted by staff, shown on the host's page and as a room's
replays; and live's verdict on a video named as a cart line's source.

Real Postgres and NATS; products and deals reach live as shop's and local_life's events, as in production.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from libs.contracts import (
    SOURCE_NOT_ANCHORED,
    SOURCE_OK,
    SOURCE_UNKNOWN_VIDEO,
    VERIFY_VIDEO_SOURCES,
    DealPublished,
    VerifyVideoSources,
    VerifyVideoSourcesReply,
    VideoSource,
)
from tests.harness import PROBLEM, Infra, Stack, assert_problem, eventually, publish
from tests.integration.live.support import create_room, new_id, product_event, sku

SERVICES = ("live",)


def deal_published(merchant_id: str, title: str = "Hotpot for two") -> DealPublished:
    return DealPublished(
        deal_id=new_id(),
        merchant_id=merchant_id,
        title=title,
        price_minor=8800,
        original_value_minor=12800,
        currency="USD",
        vouchers_per_purchase=1,
        valid_until=datetime.now(UTC) + timedelta(days=30),
    )


def body(*anchors: dict[str, str], **fields: Any) -> dict[str, Any]:
    return {
        "title": "How to tie a linen shirt",
        "media_url": "https://cdn.example/v/1.mp4",
        "cover_url": "https://cdn.example/v/1.jpg",
        "duration_s": 42.5,
        "anchors": list(anchors),
        **fields,
    }


async def post_video(stack: Stack, token: str, payload: dict[str, Any]) -> httpx.Response:
    async with stack.client("live", token) as client:
        return await client.post("/videos", json=payload)


async def publish_when_known(stack: Stack, token: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Publish, retrying while live has not yet heard of the anchored items (the replicas fill from events)."""

    async def attempt() -> dict[str, Any] | None:
        response = await post_video(stack, token, payload)
        if response.status_code == 422 and response.json()["type"] == PROBLEM + "unknown-anchor":
            return None
        assert response.status_code == 201, response.text
        return response.json()

    return await eventually(attempt)


async def known_product(stack: Stack, merchant_id: str, **kwargs: Any) -> str:
    event = product_event(merchant_id, **kwargs)
    await publish(stack, event)
    return event.product_id


async def get(stack: Stack, path: str, token: str | None = None, **params: Any) -> httpx.Response:
    async with stack.client("live", token) as client:
        return await client.get(path, params=params)


async def every_page(stack: Stack, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every item, a page of 2 at a time (so the cursor is exercised)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = await get(stack, path, limit=2, **params, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def test_a_host_publishes_a_video_and_buyers_see_its_anchors_priced(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    in_stock, sold_out = sku("M", price_minor=2599, stock=5), sku("L", price_minor=2799, stock=0)
    product_id = await known_product(stack, merchant_id, title="Linen Shirt", skus=[in_stock, sold_out])
    deal = deal_published(merchant_id)
    await publish(stack, deal)

    published = await publish_when_known(stack, host, body({"product_id": product_id}, {"deal_id": deal.deal_id}))
    assert published["anchors"] == (await get(stack, f"/videos/{published['video_id']}")).json()["anchors"]

    response = await get(stack, f"/videos/{published['video_id']}", infra.token("buyer"))
    assert response.status_code == 200, response.text
    video = response.json()
    assert video["merchant_id"] == merchant_id
    assert (video["title"], video["duration_s"]) == ("How to tie a linen shirt", 42.5)
    product, deal_anchor = video["anchors"]
    assert (product["kind"], product["position"], product["title"], product["available"]) == (
        "product",
        1,
        "Linen Shirt",
        True,
    )
    assert [(s["name"], s["price_minor"], s["in_stock"]) for s in product["skus"]] == [
        ("M", 2599, True),
        ("L", 2799, False),
    ]
    assert (deal_anchor["kind"], deal_anchor["deal_id"], deal_anchor["price_minor"], deal_anchor["available"]) == (
        "deal",
        deal.deal_id,
        8800,
        True,
    )


async def test_an_anchor_live_does_not_know_or_of_another_merchant_is_refused_naming_it(
    stack: Stack, infra: Infra
) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    other_merchant = new_id()
    ours = await known_product(stack, merchant_id)
    theirs = await known_product(stack, other_merchant)
    # Live knows both products once each merchant's host could anchor its own.
    await publish_when_known(stack, host, body({"product_id": ours}))
    await publish_when_known(stack, infra.token("host", merchant_id=other_merchant), body({"product_id": theirs}))

    assert_problem(
        await post_video(stack, host, body({"product_id": ours}, {"product_id": theirs})),
        422,
        "unknown-anchor",
        "anchors[1]",
    )
    assert_problem(await post_video(stack, host, body({"deal_id": new_id()})), 422, "unknown-anchor", "anchors[0]")
    assert_problem(
        await post_video(stack, host, body({"product_id": ours, "deal_id": new_id()})),
        422,
        "unknown-anchor",
        "anchors[0]",
    )
    assert_problem(
        await post_video(stack, host, body({"product_id": ours}, {"product_id": ours})),
        422,
        "unknown-anchor",
        "anchors[1]",
    )
    # Only the first (good) video exists: the refused ones changed nothing.
    host_id = (await get(stack, "/videos", merchant_id=merchant_id)).json()["items"][0]["host_id"]
    assert len(await every_page(stack, "/videos", host_id=host_id)) == 1


async def test_bad_input_is_refused_naming_the_field(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    product = {"product_id": new_id()}
    cases = {
        "media_url": body(product, media_url="javascript:alert(1)"),
        "duration_s": body(product, duration_s=0),
        "anchors": body(),
        "price_minor": body(product, price_minor=1),
    }
    for field, payload in cases.items():
        response = await post_video(stack, host, payload)
        problem = assert_problem(response, 400, "validation-failed")
        assert field in problem.get("field", ""), problem
    assert_problem(await post_video(stack, infra.token("host"), body(product)), 403, "publisher-not-linked-to-merchant")
    assert_problem(await post_video(stack, infra.token("buyer"), body(product)), 403)
    assert_problem(
        await post_video(stack, host, body(product, merchant_id=new_id())), 403, "not-your-merchant", "merchant_id"
    )
    # A merchant names a host of its rooms; one who never hosted for it is refused.
    merchant = infra.token("merchant", merchant_id=merchant_id)
    assert_problem(await post_video(stack, merchant, body(product, host_id="nobody")), 422, "unknown-host", "host_id")
    assert (await get(stack, "/videos", merchant_id=merchant_id)).json()["items"] == []
    assert_problem(await get(stack, "/videos", cursor="not-ours"), 400, "invalid-cursor", "cursor")
    assert_problem(await get(stack, "/videos/not-a-uuid"), 404)
    assert_problem(await get(stack, f"/videos/{uuid.uuid4()}"), 404)


async def test_videos_are_listed_newest_first_by_host_merchant_and_product(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host_id = f"host-{uuid.uuid4().hex[:10]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    shirt = await known_product(stack, merchant_id, title="Shirt")
    hat = await known_product(stack, merchant_id, title="Hat")
    ids = []
    for anchors in ([{"product_id": shirt}], [{"product_id": hat}], [{"product_id": hat}, {"product_id": shirt}]):
        ids.append((await publish_when_known(stack, host, body(*anchors)))["video_id"])
    # Another host's video, of another merchant.
    other_merchant = new_id()
    other_product = await known_product(stack, other_merchant)
    await publish_when_known(
        stack, infra.token("host", merchant_id=other_merchant), body({"product_id": other_product})
    )

    newest_first = list(reversed(ids))
    assert [v["video_id"] for v in await every_page(stack, "/videos", host_id=host_id)] == newest_first
    assert [v["video_id"] for v in await every_page(stack, "/videos", merchant_id=merchant_id)] == newest_first
    assert [v["video_id"] for v in await every_page(stack, "/videos", product_id=shirt)] == [ids[2], ids[0]]
    assert [v["video_id"] for v in await every_page(stack, "/videos", host_id=host_id, product_id=hat)] == [
        ids[2],
        ids[1],
    ]


async def test_staff_delete_a_video_and_buyers_then_get_404(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host_id = f"host-{uuid.uuid4().hex[:10]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    product_id = await known_product(stack, merchant_id)
    video_id = (await publish_when_known(stack, host, body({"product_id": product_id})))["video_id"]
    kept_id = (await publish_when_known(stack, host, body({"product_id": product_id})))["video_id"]

    async def delete(token: str) -> httpx.Response:
        async with stack.client("live", token) as client:
            return await client.delete(f"/videos/{video_id}")

    assert_problem(await delete(infra.token("buyer")), 403)
    assert_problem(await delete(infra.token("host", merchant_id=merchant_id)), 403, "not-your-video")
    assert_problem(await delete(infra.token("merchant", merchant_id=new_id())), 403, "not-your-video")
    assert (await get(stack, f"/videos/{video_id}")).status_code == 200

    assert (await delete(infra.token("merchant", merchant_id=merchant_id))).status_code == 204
    assert_problem(await get(stack, f"/videos/{video_id}", infra.token("buyer")), 404)
    assert [v["video_id"] for v in await every_page(stack, "/videos", host_id=host_id)] == [kept_id]
    assert [v["video_id"] for v in await every_page(stack, "/videos", product_id=product_id)] == [kept_id]
    assert_problem(await delete(host), 404)


async def test_the_host_page_lists_the_hosts_videos(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host_id = f"host-{uuid.uuid4().hex[:10]}"
    host = infra.token("host", sub=host_id, merchant_id=merchant_id)
    product_id = await known_product(stack, merchant_id)
    # A host with videos and no room yet has a page all the same.
    first = await publish_when_known(stack, host, body({"product_id": product_id}, title="First"))
    response = await get(stack, f"/hosts/{host_id}")
    assert response.status_code == 200, response.text
    assert [(v["video_id"], v["title"]) for v in response.json()["videos"]] == [(first["video_id"], "First")]
    assert response.json()["rooms"] == []

    room = await create_room(stack, infra, merchant_id, host)
    second = await publish_when_known(stack, host, body({"product_id": product_id}, title="Second"))
    page = (await get(stack, f"/hosts/{host_id}")).json()
    assert [v["video_id"] for v in page["videos"]] == [second["video_id"], first["video_id"]]
    assert [r["room_id"] for r in page["rooms"]] == [room.room_id]


async def test_a_video_replays_a_room_of_its_merchant(stack: Stack, infra: Infra) -> None:
    room = await create_room(stack, infra)
    product_id = await known_product(stack, room.merchant_id)
    replay = await publish_when_known(stack, room.host, body({"product_id": product_id}, room_id=room.room_id))
    assert replay["room_id"] == room.room_id
    other = await create_room(stack, infra)
    assert_problem(
        await post_video(stack, room.host, body({"product_id": product_id}, room_id=other.room_id)),
        422,
        "unknown-room",
        "room_id",
    )
    # The merchant publishes another replay, of the host who hosts the room.
    host_id = replay["host_id"]
    by_merchant = await publish_when_known(
        stack, room.merchant, body({"product_id": product_id}, room_id=room.room_id, host_id=host_id)
    )
    assert by_merchant["host_id"] == host_id
    replays = await every_page(stack, f"/rooms/{room.room_id}/replays")
    assert [v["video_id"] for v in replays] == [by_merchant["video_id"], replay["video_id"]]
    assert (await get(stack, f"/rooms/{other.room_id}/replays")).json()["items"] == []
    assert_problem(await get(stack, f"/rooms/{uuid.uuid4()}/replays"), 404)


async def test_live_vouches_only_for_a_video_that_anchors_the_product(stack: Stack, infra: Infra) -> None:
    merchant_id = new_id()
    host = infra.token("host", merchant_id=merchant_id)
    anchored = await known_product(stack, merchant_id)
    not_anchored = await known_product(stack, merchant_id)
    video_id = (await publish_when_known(stack, host, body({"product_id": anchored})))["video_id"]
    bus = stack.apps["live"].runtime.bus

    async def verdicts(*sources: tuple[str, str, str]) -> list[str]:
        request = VerifyVideoSources(
            sources=[VideoSource(video_id=v, merchant_id=m, product_id=p) for v, m, p in sources]
        )
        return (await bus.request(VERIFY_VIDEO_SOURCES, request, VerifyVideoSourcesReply, timeout=5)).verdicts

    assert await verdicts(
        (video_id, merchant_id, anchored),
        (video_id, merchant_id, not_anchored),
        (video_id, new_id(), anchored),
        (str(uuid.uuid4()), merchant_id, anchored),
        ("not-a-uuid", merchant_id, anchored),
    ) == [SOURCE_OK, SOURCE_NOT_ANCHORED, SOURCE_NOT_ANCHORED, SOURCE_UNKNOWN_VIDEO, SOURCE_UNKNOWN_VIDEO]

    async with stack.client("live", host) as client:
        assert (await client.delete(f"/videos/{video_id}")).status_code == 204
    assert await verdicts((video_id, merchant_id, anchored)) == [SOURCE_UNKNOWN_VIDEO]
