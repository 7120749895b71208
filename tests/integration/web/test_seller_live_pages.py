"""The seller's live pages over HTTP, against real services: Today's live rooms with their viewers and sales, the
rooms list by status (paged), scheduling a room through the form (made in live), an ended room's review with its
charts, short videos published with anchors and taken down, customers by segment; live's refusals shown by their
field, another merchant's room and video refused as live refuses them, roles and CSRF."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.harness import Stack, eventually, onboard_merchant
from tests.integration.live.support import add_when_known
from tests.integration.orders.support import pay_checkout
from tests.integration.web.support import browser, csrf, hidden, signed_in_as

SERVICES = ("shop", "orders", "aftersales", "live", "local_life", "web")
pytestmark = pytest.mark.asyncio(loop_scope="session")

M0 = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)


def token(stack: Stack, role: str) -> str:
    return stack.demo.token(stack.infra, role)


async def live_call(stack: Stack, method: str, path: str, role_or_token: str = "host", **kwargs: Any) -> Any:
    """Call live as the demo user of a role (or with a token), expecting success; its JSON."""
    bearer = token(stack, role_or_token) if role_or_token in ("host", "merchant") else role_or_token
    async with stack.client("live", bearer) as live:
        response = await live.request(method, path, **kwargs)
    assert response.is_success, response.text
    return response.json() if response.content else None


async def demo_room(stack: Stack, title: str = "Evening drop", *, start: bool = False, end: bool = False) -> str:
    """A room of the demo merchant hosted by the demo host, started and ended as asked; its id."""
    room = await live_call(stack, "POST", "/rooms", json={"title": title})
    if start:
        await live_call(stack, "POST", f"/rooms/{room['room_id']}/start")
    if end:
        await live_call(stack, "POST", f"/rooms/{room['room_id']}/end")
    return str(room["room_id"])


async def demo_product(stack: Stack, price_minor: int = 2500) -> dict:
    async with stack.client("shop", token(stack, "merchant")) as shop:
        created = await shop.post(
            "/seller/products",
            json={
                "title": f"Gaiwan {uuid.uuid4().hex[:6]}",
                "skus": [{"name": "One", "price_minor": price_minor, "stock": 50}],
            },
        )
    assert created.status_code == 201, created.text
    return created.json()


def row(html: str, testid: str) -> str:
    found = re.search(rf'<tr data-testid="{re.escape(testid)}".*?</tr>', html, re.S)
    assert found, f"no row {testid}"
    return found.group(0)


def cells(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, re.S)]


# --- Today -------------------------------------------------------------------------------------------------------


async def test_today_lists_the_rooms_live_now_and_ended_today_with_viewers_and_sales(stack: Stack) -> None:
    product = await demo_product(stack)
    selling = await demo_room(stack, "Tea tasting", start=True)
    await add_when_known(stack, token(stack, "host"), selling, product["product_id"])
    finished = await demo_room(stack, "Morning show", start=True, end=True)
    upcoming = await demo_room(stack, "Next week")
    buyer = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:8]}")
    async with stack.client("live", buyer) as live:
        assert (await live.post(f"/rooms/{selling}/join")).status_code == 200
    async with stack.client("orders", buyer) as orders:
        await pay_checkout(stack, orders, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 2, "room_id": selling}])

    async with signed_in_as(stack) as client:

        async def counted() -> str | None:  # live's room sales hear of the payment over NATS
            page = (await client.get("/seller")).text
            shown = row(page, f"room-today-{selling}")
            return shown if "$50.00" in shown else None

        live_row = cells(await eventually(counted, timeout=30))
        assert live_row[0].startswith("Tea tasting")
        assert live_row[1].startswith("Live now")
        assert live_row[2:] == ["1", "1", "$50.00"]  # unique viewers, paid orders, paid
        today = (await client.get("/seller")).text
        ended_row = cells(row(today, f"room-today-{finished}"))
        assert ended_row[1].startswith("Ended")
        assert "UTC" in ended_row[1]
        assert ended_row[2:] == ["0", "0", "\u2013"]
        assert f"room-today-{upcoming}" not in today
        assert f'href="/seller/rooms/{selling}"' in today


# --- rooms -------------------------------------------------------------------------------------------------------


async def test_the_rooms_page_lists_each_status_and_pages_through_one(stack: Stack) -> None:
    merchant_id, merchant = await onboard_merchant(stack)
    host = stack.infra.token("host", sub="host-paging", merchant_id=merchant_id)
    async with stack.client("live", host) as live:
        ids = []
        for n in range(12):
            at = (datetime.now(UTC) + timedelta(days=1, minutes=n)).isoformat()
            made = await live.post("/rooms", json={"title": f"Show {n:02d}", "scheduled_start_at": at})
            assert made.status_code == 201, made.text
            ids.append(made.json()["room_id"])
        on_air = (await live.post("/rooms", json={"title": "On air"})).json()["room_id"]
        assert (await live.post(f"/rooms/{on_air}/start")).status_code == 200
    # A merchant of its own (no other test's rooms), signed in as the identity provider would sign it in.
    async with browser(stack) as client:
        signed = await client.post("/sign-in/callback", data={"token": merchant, "next": "/seller/rooms"})
        assert signed.status_code == 303, signed.text
        page = await client.get("/seller/rooms")
        assert page.status_code == 200
        scheduled = re.search(r'data-testid="rooms-scheduled">(.*?)</section>', page.text, re.S).group(1)
        assert re.findall(r'data-testid="room-row-([^"]+)"', scheduled) == ids[:10]  # soonest first
        assert "Show 00" in scheduled
        assert "(in 1 day)" in scheduled
        on_air_section = re.search(r'data-testid="rooms-live">(.*?)</section>', page.text, re.S).group(1)
        assert f"room-row-{on_air}" in on_air_section
        assert "No rooms here." in re.search(r'data-testid="rooms-ended">(.*?)</section>', page.text, re.S).group(1)
        more = re.search(r'href="(/seller/rooms\?status=scheduled&amp;cursor=[^"]+)"', scheduled).group(1)
        second = await client.get(more.replace("&amp;", "&"))
        assert second.status_code == 200
        assert re.findall(r'data-testid="room-row-([^"]+)"', second.text) == ids[10:]
        assert 'data-testid="rooms-live"' not in second.text  # one status when paging
        # A cursor edited by hand (or of another listing) reads the first page.
        for path in (
            "/seller/rooms?status=scheduled&cursor=garbage",
            "/seller/rooms?status=live&cursor=" + more.split("cursor=")[1],
        ):
            again = await client.get(path)
            assert again.status_code == 200, path
        # The schedule form offers the hosts of the rooms shown.
        assert '<option value="host-paging">' in page.text


async def _form(client: httpx.AsyncClient, path: str) -> dict[str, str]:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return {"_csrf_token": csrf(client), "idempotency_key": hidden(page.text, "idempotency_key")}


async def _scheduled_ids(stack: Stack) -> list[str]:
    page = await live_call(
        stack,
        "GET",
        f"/merchants/{stack.demo.merchant_id}/rooms",
        "merchant",
        params={"status": "scheduled", "limit": 100},
    )
    return [r["room_id"] for r in page["items"]]


async def test_scheduling_a_room_through_the_form_makes_it_in_live(stack: Stack) -> None:
    await demo_room(stack)  # the demo host has hosted the merchant's rooms
    at = (datetime.now(UTC) + timedelta(days=3)).replace(second=0, microsecond=0)
    async with signed_in_as(stack) as client:
        form = await _form(client, "/seller/rooms")
        form |= {
            "title": "Autumn tea launch",
            "host_id": "host-demo",
            "cover_url": "https://img.example/autumn.jpg",
            "scheduled_start_at": at.strftime("%Y-%m-%dT%H:%M"),
        }
        made = await client.post("/seller/rooms", data=form)
        assert made.status_code == 303, made.text
        room_id = made.headers["location"].removeprefix("/seller/rooms/")
        again = await client.post("/seller/rooms", data=form)  # a double click: the same room
        assert again.headers["location"] == made.headers["location"]
        page = await client.get(made.headers["location"])
        assert page.status_code == 200
        assert "Autumn tea launch" in page.text
        assert 'data-testid="review-later"' in page.text
        listed = await client.get("/seller/rooms?status=scheduled")
        assert f'data-testid="room-row-{room_id}"' in listed.text
    room = await live_call(stack, "GET", f"/rooms/{room_id}")
    assert (room["title"], room["host_id"], room["merchant_id"], room["cover_url"], room["status"]) == (
        "Autumn tea launch",
        "host-demo",
        stack.demo.merchant_id,
        "https://img.example/autumn.jpg",
        "scheduled",
    )
    assert datetime.fromisoformat(room["scheduled_start_at"]) == at
    assert (await _scheduled_ids(stack)).count(room_id) == 1


@pytest.mark.parametrize(
    ("changed", "field", "said"),
    [
        ({"host_id": "host-nobody-knows"}, "host_id", "the merchant has no room hosted by this host"),
        ({"host_id": ""}, "host_id", "a merchant names the host of the room it schedules"),
        ({"cover_url": "javascript:alert(1)"}, "cover_url", "cover_url"),
        ({"scheduled_start_at": "2020-01-01T10:00"}, "scheduled_start_at", "Choose a start time in the future"),
        ({"title": "   "}, "title", "title"),
    ],
)
async def test_the_schedule_form_shows_the_refusal_by_its_field_and_makes_nothing(
    stack: Stack, changed: dict[str, str], field: str, said: str
) -> None:
    await demo_room(stack)
    before = await _scheduled_ids(stack)
    async with signed_in_as(stack) as client:
        form = await _form(client, "/seller/rooms") | {"title": "Refused", "host_id": "host-demo"} | changed
        refused = await client.post("/seller/rooms", data=form)
        assert refused.status_code == 422
        error = re.search(rf'data-testid="error-{field}">(.*?)</span>', refused.text, re.S)
        assert error, refused.text
        assert said in error.group(1)
        assert re.search(rf'aria-describedby="[^"]*{field}-error"', refused.text)
        if field != "title":
            assert 'value="Refused"' in refused.text  # what was typed stays
    assert await _scheduled_ids(stack) == before


# --- a room and its review ---------------------------------------------------------------------------------------


async def seed_funnel(db: asyncpg.Connection, room_id: str, merchant_id: str, product_id: str) -> None:
    """What the funnel's consumers fold for a room, written as they write it: three minutes of steps, two paid
    orders of one product."""
    session_id = str(await db.fetchval("SELECT session_id FROM live.room_sessions WHERE room_id = $1", room_id))
    m0, m1, m2 = M0, M0 + timedelta(minutes=1), M0 + timedelta(minutes=2)
    rows = [
        ("view", m0, "", 10),
        ("impression", m0, "", 8),
        ("click", m0, "", 4),
        ("cart", m1, "", 3),
        ("order", m1, "USD", 2),
        ("paid", m1, "USD", 1),
        ("paid", m2, "USD", 1),
    ]
    amounts = {("order", m1): 5000, ("paid", m1): 3000, ("paid", m2): 2000}
    for scope, scope_id in (("room", room_id), ("session", session_id)):
        await db.executemany(
            """INSERT INTO live.funnel_minutes (scope, scope_id, step, minute, currency, n, quantity, amount_minor,
                                                watch_s)
               VALUES ($1, $2, $3, $4, $5, $6, $6, $7, 0)""",
            [(scope, scope_id, step, m, c, n, amounts.get((step, m), 0)) for step, m, c, n in rows],
        )
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    facts = [
        ("order", first, m1, 3000),
        ("order", second, m1, 2000),
        ("paid", first, m1, 3000),
        ("paid", second, m2, 2000),
    ]
    await db.executemany(
        """INSERT INTO live.funnel_facts (fact_key, step, at, source_type, room_id, session_id, host_id, merchant_id,
                                          person_id, product_id, order_id, quantity, amount_minor, currency)
           VALUES ($1, $2, $3, 'room', $4, $5, 'host-demo', $6, 'v0', $7, $8, 1, $9, 'USD')""",
        [
            (f"{step}:{order}:1", step, at, room_id, session_id, merchant_id, product_id, order, amount)
            for step, order, at, amount in facts
        ],
    )


async def test_an_ended_rooms_page_shows_its_review_with_the_funnel_and_minute_charts(
    stack: Stack, db: asyncpg.Connection
) -> None:
    room_id = await demo_room(stack, "Harvest special", start=True)
    product_id = str(uuid.uuid4())
    await seed_funnel(db, room_id, stack.demo.merchant_id, product_id)
    async with signed_in_as(stack) as client:
        live_page = await client.get(f"/seller/rooms/{room_id}")
        assert live_page.status_code == 200
        assert "<svg" not in live_page.text  # no review while live
        assert 'data-testid="session-1"' in live_page.text
        await live_call(stack, "POST", f"/rooms/{room_id}/end")
        page = await client.get(f"/seller/rooms/{room_id}")
    assert page.status_code == 200
    html = page.text
    funnel = re.search(r'<svg[^>]*data-testid="funnel-chart".*?</svg>', html, re.S).group(0)
    assert 'role="img"' in funnel
    assert '<title id="funnel-chart-title">Conversion funnel</title>' in funnel
    assert re.findall(r'data-step="(\w+)" data-value="(\d+)"', funnel) == [
        ("views", "10"),
        ("clicks", "4"),
        ("carts", "3"),
        ("orders", "2"),
        ("paid_orders", "2"),
    ]
    # Live's rates, step over step: 4 of 10 clicked, 3 of 4 carted, 2 of 3 ordered (0.6667), both paid.
    for shown in ("4 · 40.0% of the step before", "3 · 75.0% of the step before", "2 · 66.7% of the step before"):
        assert shown in funnel
    minutes = re.search(r'<svg[^>]*data-testid="minute-chart".*?</svg>', html, re.S).group(0)
    assert "Per-minute counts from 20:00 to 20:02 (UTC); most in one minute: 10." in minutes
    assert dict(re.findall(r'data-series="(\w+)" data-total="(\d+)"', minutes)) == {
        "views": "10",
        "clicks": "4",
        "orders": "2",
        "paid_orders": "2",
    }
    assert "Minute (UTC)" in minutes
    assert "style=" not in funnel + minutes
    # The same numbers for whoever cannot see the charts, the best minute, what sold.
    assert cells(row(html, "step-orders")) == ["Orders", "2", "66.7%"]
    assert "2026-01-05 20:01 UTC" in re.search(r'data-testid="best-minute">(.*?)</p>', html, re.S).group(1)
    assert "$30.00" in re.search(r'data-testid="best-minute">(.*?)</p>', html, re.S).group(1)
    top = re.search(r'data-testid="top-products">(.*?)</table>', html, re.S).group(1)
    assert product_id in top
    assert "$50.00" in top
    assert 'data-testid="review-gross-USD">$50.00<' in html


async def test_the_review_reads_in_simplified_chinese(stack: Stack, db: asyncpg.Connection) -> None:
    room_id = await demo_room(stack, "Harvest special", start=True)
    await seed_funnel(db, room_id, stack.demo.merchant_id, str(uuid.uuid4()))
    await live_call(stack, "POST", f"/rooms/{room_id}/end")
    async with signed_in_as(stack) as client:
        await client.post("/language", data={"language": "zh_Hans", "next": "/seller", "_csrf_token": csrf(client)})
        page = (await client.get(f"/seller/rooms/{room_id}")).text
    assert '<title id="funnel-chart-title">转化漏斗</title>' in page
    assert "为上一步的 40.0%" in page
    assert "分钟（UTC）" in page  # noqa: RUF001
    assert "复盘" in page


async def test_a_scheduled_room_is_changed_from_its_page_until_it_ends(stack: Stack) -> None:
    room_id = await demo_room(stack, "Draft title")
    at = (datetime.now(UTC) + timedelta(days=5)).replace(second=0, microsecond=0)
    async with signed_in_as(stack) as client:
        page = await client.get(f"/seller/rooms/{room_id}")
        assert 'value="Draft title"' in page.text
        changed = {
            "title": "Final title",
            "cover_url": "https://img.example/final.jpg",
            "scheduled_start_at": at.strftime("%Y-%m-%dT%H:%M"),
            "_csrf_token": csrf(client),
        }
        done = await client.post(f"/seller/rooms/{room_id}", data=changed)
        assert done.status_code == 303
        assert done.headers["location"] == f"/seller/rooms/{room_id}"
        page = await client.get(done.headers["location"])
        assert 'data-testid="room-title">Final title<' in page.text
        assert f'value="{at.strftime("%Y-%m-%dT%H:%M")}"' in page.text
        room = await live_call(stack, "GET", f"/rooms/{room_id}")
        assert (room["title"], room["cover_url"]) == ("Final title", "https://img.example/final.jpg")
        assert datetime.fromisoformat(room["scheduled_start_at"]) == at
        # A blank start un-announces it; a bad cover is live's refusal by its field.
        cleared = await client.post(f"/seller/rooms/{room_id}", data=changed | {"scheduled_start_at": ""})
        assert cleared.status_code == 303
        assert (await live_call(stack, "GET", f"/rooms/{room_id}"))["scheduled_start_at"] is None
        refused = await client.post(f"/seller/rooms/{room_id}", data=changed | {"cover_url": "ftp://x"})
        assert refused.status_code == 422
        assert 'data-testid="error-cover_url"' in refused.text
        # Once ended the room keeps its title: no form, and live's 409 by the form if one is posted anyway.
        await live_call(stack, "POST", f"/rooms/{room_id}/start")
        await live_call(stack, "POST", f"/rooms/{room_id}/end")
        ended = await client.get(f"/seller/rooms/{room_id}")
        assert 'id="change-room"' not in ended.text
        late = await client.post(f"/seller/rooms/{room_id}", data=changed | {"title": "Too late"})
        assert late.status_code == 422
        assert "an ended room keeps its title" in late.text
    assert (await live_call(stack, "GET", f"/rooms/{room_id}"))["title"] == "Final title"


async def test_another_merchants_room_is_refused_as_live_refuses_it(stack: Stack) -> None:
    other_id, _ = await onboard_merchant(stack)
    host = stack.infra.token("host", merchant_id=other_id)
    async with stack.client("live", host) as live:
        theirs = (await live.post("/rooms", json={"title": "Not yours"})).json()["room_id"]
    async with signed_in_as(stack) as client:
        refused = await client.get(f"/seller/rooms/{theirs}")
        assert refused.status_code == 403  # live's not-your-room: rooms are public, a 404 would hide nothing
        assert "Not yours" not in refused.text
        for unknown in (str(uuid.uuid4()), "not-a-room"):
            assert (await client.get(f"/seller/rooms/{unknown}")).status_code == 404
        changed = await client.post(f"/seller/rooms/{theirs}", data={"title": "Mine now", "_csrf_token": csrf(client)})
        assert changed.status_code == 403
    assert (await live_call(stack, "GET", f"/rooms/{theirs}"))["title"] == "Not yours"


# --- videos ------------------------------------------------------------------------------------------------------


async def _video_form(client: httpx.AsyncClient, product_id: str) -> dict[str, Any]:
    return await _form(client, "/seller/videos") | {
        "title": "Brewing a gaiwan",
        "media_url": "https://media.example/gaiwan.mp4",
        "cover_url": "",
        "duration_s": "42.5",
        "host_id": "host-demo",
        "anchor": [f"product:{product_id}"],
    }


async def _published(stack: Stack) -> list[dict]:
    page = await live_call(
        stack, "GET", "/videos", "merchant", params={"merchant_id": stack.demo.merchant_id, "limit": 100}
    )
    return page["items"]


async def test_a_video_is_published_with_its_anchor_and_taken_down(stack: Stack) -> None:
    await demo_room(stack)
    product = await demo_product(stack)
    async with signed_in_as(stack) as client:
        page = await client.get("/seller/videos")
        assert f'value="product:{product["product_id"]}"' in page.text  # offered as an anchor
        form = await _video_form(client, product["product_id"])

        async def published() -> httpx.Response | None:  # live hears of the product from shop's event
            answer = await client.post("/seller/videos", data=form)
            return answer if answer.status_code == 303 else None

        made = await eventually(published, timeout=20, interval=0.3)
        assert made.headers["location"] == "/seller/videos"
        again = await client.post("/seller/videos", data=form)  # the same key: the same video
        assert again.status_code == 303
        videos = [v for v in await _published(stack) if v["title"] == "Brewing a gaiwan"]
        assert len(videos) == 1
        video = await live_call(stack, "GET", f"/videos/{videos[0]['video_id']}")
        assert (video["host_id"], video["duration_s"], video["media_url"]) == (
            "host-demo",
            42.5,
            "https://media.example/gaiwan.mp4",
        )
        assert [a["product_id"] for a in video["anchors"]] == [product["product_id"]]
        listed = await client.get("/seller/videos")
        shown = cells(row(listed.text, f"video-row-{video['video_id']}"))
        assert shown[0].startswith("Brewing a gaiwan")
        assert shown[1] == "host-demo"
        assert shown[3:6] == ["0", "0", "0"]  # plays, anchor clicks, paid orders: nothing yet

        gone = await client.post(f"/seller/videos/{video['video_id']}/delete", data={"_csrf_token": csrf(client)})
        assert gone.status_code == 303
        assert f"video-row-{video['video_id']}" not in (await client.get("/seller/videos")).text
    async with stack.client("live") as public:
        assert (await public.get(f"/videos/{video['video_id']}")).status_code == 404


@pytest.mark.parametrize(
    ("changed", "field", "said"),
    [
        ({"anchor": []}, "anchors", "Choose at least one product or deal"),
        ({"media_url": "ftp://media.example/x"}, "media_url", "media_url"),
        ({"duration_s": "soon"}, "duration_s", "Enter the length in seconds"),
        ({"host_id": "host-nobody-knows"}, "host_id", "the merchant has no room hosted by this host"),
    ],
)
async def test_the_publish_form_shows_the_refusal_by_its_field_and_publishes_nothing(
    stack: Stack, changed: dict[str, Any], field: str, said: str
) -> None:
    await demo_room(stack)
    product = await demo_product(stack)
    before = len(await _published(stack))
    async with signed_in_as(stack) as client:
        form = await _video_form(client, product["product_id"]) | changed

        async def refused() -> httpx.Response | None:  # unknown-anchor until live knows the product
            answer = await client.post("/seller/videos", data=form)
            return answer if f'data-testid="error-{field}"' in answer.text else None

        answer = await eventually(refused, timeout=20, interval=0.3)
        assert answer.status_code == 422
        assert said in re.search(rf'data-testid="error-{field}">(.*?)</span>', answer.text, re.S).group(1)
        assert 'value="Brewing a gaiwan"' in answer.text
    assert len(await _published(stack)) == before


async def test_another_merchants_video_cannot_be_taken_down(stack: Stack) -> None:
    other_id, other = await onboard_merchant(stack)
    host = stack.infra.token("host", merchant_id=other_id)
    async with stack.client("shop", other) as shop:
        product = (
            await shop.post(
                "/seller/products", json={"title": "Theirs", "skus": [{"name": "A", "price_minor": 100, "stock": 1}]}
            )
        ).json()

    async def published() -> str | None:
        async with stack.client("live", host) as live:
            body = {
                "title": "Theirs",
                "media_url": "https://media.example/t.mp4",
                "duration_s": 5,
                "anchors": [{"product_id": product["product_id"]}],
            }
            answer = await live.post("/videos", json=body)
        return answer.json()["video_id"] if answer.status_code == 201 else None

    video_id = await eventually(published, timeout=20, interval=0.3)
    async with signed_in_as(stack) as client:
        refused = await client.post(f"/seller/videos/{video_id}/delete", data={"_csrf_token": csrf(client)})
        assert refused.status_code == 403
    async with stack.client("live") as public:
        assert (await public.get(f"/videos/{video_id}")).status_code == 200


# --- customers ---------------------------------------------------------------------------------------------------


async def test_customers_are_listed_by_segment_after_a_recompute(stack: Stack) -> None:
    product = await demo_product(stack, 1800)
    buyer_id = f"buyer-{uuid.uuid4().hex[:8]}"
    async with stack.client("orders", stack.infra.token("buyer", sub=buyer_id)) as orders:
        await pay_checkout(stack, orders, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1}])
    async with signed_in_as(stack) as client:

        async def segmented() -> str | None:  # the funnel hears of the payment, then the recompute sees it
            done = await client.post(
                "/seller/customers/recompute", data={"segment": "new", "_csrf_token": csrf(client)}
            )
            assert done.status_code == 303
            assert done.headers["location"] == "/seller/customers?segment=new"
            page = (await client.get(done.headers["location"])).text
            return page if f'data-testid="customer-{buyer_id}"' in page else None

        page = await eventually(segmented, timeout=30, interval=0.5)
        shown = cells(row(page, f"customer-{buyer_id}"))
        assert shown[0] == buyer_id
        assert shown[1] == "New customers"
        assert "(0 days ago)" in shown[2]
        assert shown[3:] == ["1", "$18.00"]
        assert "Segments computed" in page
        assert 'aria-current="page">New customers' in page
        elsewhere = (await client.get("/seller/customers?segment=loyal")).text
        assert f"customer-{buyer_id}" not in elsewhere
        every = (await client.get("/seller/customers")).text
        assert f"customer-{buyer_id}" in every
        unknown = await client.get("/seller/customers?segment=whales")
        assert unknown.status_code == 422
        assert "whales" in re.search(r'data-testid="customers-refusal">(.*?)</p>', unknown.text, re.S).group(1)


# --- who may ---------------------------------------------------------------------------------------------------


PAGES = ("/seller/rooms", f"/seller/rooms/{uuid.uuid4()}", "/seller/videos", "/seller/customers")
FORMS = (
    "/seller/rooms",
    f"/seller/rooms/{uuid.uuid4()}",
    "/seller/videos",
    f"/seller/videos/{uuid.uuid4()}/delete",
    "/seller/customers/recompute",
)


async def test_only_a_signed_in_merchant_uses_the_live_pages(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("web"), follow_redirects=False) as anonymous:
        for path in PAGES:
            answer = await anonymous.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/sign-in")
    async with signed_in_as(stack, "buyer") as buyer:
        for path in PAGES:
            assert (await buyer.get(path)).status_code == 403, path
        for path in FORMS:
            assert (await buyer.post(path, data={"_csrf_token": csrf(buyer)})).status_code == 403, path


async def test_the_live_forms_need_their_csrf_token(stack: Stack) -> None:
    await demo_room(stack)
    before = await _scheduled_ids(stack)
    async with signed_in_as(stack) as client:
        form = await _form(client, "/seller/rooms")
        form |= {"title": "Forged", "host_id": "host-demo"}
        for forged in ({k: v for k, v in form.items() if k != "_csrf_token"}, form | {"_csrf_token": "0" * 128}):
            assert (await client.post("/seller/rooms", data=forged)).status_code == 403
        for path in FORMS[1:]:
            assert (await client.post(path, data={})).status_code == 403, path
    assert await _scheduled_ids(stack) == before
