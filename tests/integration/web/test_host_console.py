"""The host console over HTTP, against real services: the host's rooms and a new one made through the form; the
console going live, filling the bag in order, pinning, starting a flash sale and dropping coupons (each checked in
live's API); live's refusals shown by the form with live's status; another host's room; the console's stream relaying
live's room feed and funnel feed as HTML fragments."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.harness import Stack, eventually
from tests.integration.local_life.support import new_deal
from tests.integration.web.support import csrf, hidden, signed_in_as

SERVICES = ("shop", "live", "local_life", "web")
pytestmark = pytest.mark.asyncio(loop_scope="session")
HTMX = {"HX-Request": "true"}


# --- what the tests share (test_room_page.py uses these too) ----------------------------------------------------


async def demo_product(stack: Stack, *skus: tuple[str, int, int], title: str | None = None) -> dict[str, Any]:
    """A product of the demo merchant made through shop's API: (name, price_minor, stock) per SKU."""
    body = {
        "title": title or f"Silk scarf {uuid.uuid4().hex[:6]}",
        "skus": [
            {"name": name, "price_minor": price, "stock": stock} for name, price, stock in skus or [("One", 2500, 10)]
        ],
    }
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        created = await shop.post("/seller/products", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def live_api(stack: Stack, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    async with stack.client("live", token) as live:
        return await live.request(method, path, **kwargs)


def host_token(stack: Stack) -> str:
    return stack.demo.token(stack.infra, "host")


async def new_room(client: httpx.AsyncClient, title: str | None = None) -> str:
    """A room made through the host's form: its id (the console it lands on)."""
    page = await client.get("/host")
    assert page.status_code == 200, page.text
    answer = await client.post(
        "/host/rooms",
        data={
            "title": title or f"Evening drop {uuid.uuid4().hex[:6]}",
            "idempotency_key": hidden(page.text, "idempotency_key"),
            "_csrf_token": csrf(client),
        },
    )
    assert answer.status_code == 303, answer.text
    found = re.fullmatch(r"/host/rooms/([0-9a-f-]{36})", answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


async def htmx_post(client: httpx.AsyncClient, path: str, **data: str) -> httpx.Response:
    """A form sent as HTMX sends it (the part it changes comes back)."""
    return await client.post(path, data={**data, "_csrf_token": csrf(client)}, headers=HTMX)


async def bagged(stack: Stack, client: httpx.AsyncClient, room_id: str, product_id: str) -> httpx.Response:
    """Add the product through the console, once live's catalogue replica has it (409 `product-unknown` until then)."""

    async def attempt() -> httpx.Response | None:
        answer = await htmx_post(client, f"/host/rooms/{room_id}/bag", product_id=product_id)
        return answer if answer.status_code == 200 else None

    return await eventually(attempt, timeout=15)


async def live_room_selling(stack: Stack, client: httpx.AsyncClient, *skus: tuple[str, int, int]) -> tuple[str, dict]:
    """A room of the demo host, live, with a fresh product of the demo merchant in its bag: (room id, product)."""
    product = await demo_product(stack, *skus)
    room_id = await new_room(client)
    assert (await htmx_post(client, f"/host/rooms/{room_id}/start")).status_code == 200
    await bagged(stack, client, room_id, product["product_id"])
    return room_id, product


def sale_form(sku_id: str, **fields: str) -> dict[str, str]:
    return {
        "sku_id": sku_id,
        "quantity": "5",
        "price": "9.99",
        "per_buyer_limit": "1",
        "duration_min": "10",
        "starts_at": "",
        "idempotency_key": str(uuid.uuid4()),
    } | fields


@dataclass
class StreamEvent:
    event: str
    data: str


class WebStream:
    """A browser's EventSource on one of the web app's streams: its events one at a time (comments skipped)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, timeout: float = 15.0) -> StreamEvent:
        return await asyncio.wait_for(self._read(), timeout)

    async def until(self, event: str, contains: str = "", timeout: float = 15.0) -> StreamEvent:
        """The next event of that name (whose HTML holds `contains`), skipping the others."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = await self.next(max(0.1, deadline - loop.time()))
            if found.event == event and contains in found.data:
                return found

    async def _read(self) -> StreamEvent:
        event, data = "message", []
        async for line in self._lines:
            if not line:
                if data:
                    return StreamEvent(event, "\n".join(data))
                event = "message"
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)
        raise EOFError("the stream ended")


@asynccontextmanager
async def stream(client: httpx.AsyncClient, path: str) -> AsyncIterator[WebStream]:
    async with client.stream("GET", path, timeout=httpx.Timeout(30, read=None)) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        yield WebStream(response)


def seq_of(html: str) -> int:
    found = re.search(r'sse-connect="[^"]*\?seq=(\d+)"', html)
    assert found, "no stream on the page"
    return int(found.group(1))


# --- the host's rooms -------------------------------------------------------------------------------------------------


async def test_a_host_creates_a_room_through_the_form_and_finds_it_in_their_list(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        page = await client.get("/host")
        assert page.status_code == 200, page.text
        assert '<label for="room-title">Title</label>' in page.text
        key = hidden(page.text, "idempotency_key")
        start = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
        form = {
            "title": "Tea tasting 品茶",
            "cover_url": "https://example.com/tea.jpg",
            "scheduled_start_at": start.strftime("%Y-%m-%dT%H:%M"),
            "idempotency_key": key,
            "_csrf_token": csrf(client),
        }
        created = await client.post("/host/rooms", data=form)
        assert created.status_code == 303, created.text
        room_id = created.headers["location"].rsplit("/", 1)[1]
        # The same form sent again (a double click): the same room.
        again = await client.post("/host/rooms", data=form)
        assert again.headers["location"] == created.headers["location"]

        room = (await live_api(stack, "GET", f"/rooms/{room_id}")).json()
        assert (room["title"], room["host_id"], room["merchant_id"]) == (
            "Tea tasting 品茶",
            "host-demo",
            stack.demo.merchant_id,
        )
        assert room["cover_url"] == "https://example.com/tea.jpg"
        assert datetime.fromisoformat(room["scheduled_start_at"]) == start
        assert room["status"] == "scheduled"

        listed = await client.get("/host")
        row = re.search(rf'data-testid="host-room-{room_id}".*?</li>', listed.text, re.S)
        assert row, listed.text
        assert "Tea tasting 品茶" in row.group(0)
        assert "Scheduled" in row.group(0)
        assert start.strftime("%Y-%m-%d %H:%M UTC") in row.group(0)


async def test_a_room_form_with_mistakes_is_refused_by_its_fields(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        page = await client.get("/host")
        form = {"title": " ", "scheduled_start_at": "tomorrow", "idempotency_key": hidden(page.text, "idempotency_key")}
        refused = await client.post("/host/rooms", data={**form, "_csrf_token": csrf(client)})
        assert refused.status_code == 422
        assert 'data-testid="room-error-title">Fill this in<' in refused.text
        assert "Enter a date and time such as 2026-05-01 14:30 (UTC)" in refused.text
        # live's own refusal, in its words, by the field it names.
        too_long = {**form, "title": "x" * 300, "scheduled_start_at": ""}
        refused = await client.post("/host/rooms", data={**too_long, "_csrf_token": csrf(client)})
        assert refused.status_code in (400, 422), refused.text
        assert 'data-testid="room-error-title"' in refused.text


# --- the console ------------------------------------------------------------------------------------------------


async def test_the_host_goes_live_fills_the_bag_in_order_pins_and_starts_a_flash_sale(stack: Stack) -> None:
    first = await demo_product(stack, ("S", 1500, 4), ("M", 1700, 6), title=f"Linen shirt {uuid.uuid4().hex[:4]}")
    second = await demo_product(stack, ("One", 900, 3))
    async with signed_in_as(stack, "host") as client:
        room_id = await new_room(client, "Spring launch")
        console = await client.get(f"/host/rooms/{room_id}")
        assert console.status_code == 200, console.text
        assert 'data-testid="go-live"' in console.text
        assert f'value="{first["product_id"]}"' in console.text  # the merchant's products, to add

        went = await htmx_post(client, f"/host/rooms/{room_id}/start")
        assert went.status_code == 200, went.text
        assert 'data-testid="end-live"' in went.text
        assert (await live_api(stack, "GET", f"/rooms/{room_id}")).json()["status"] == "live"

        for product in (first, second):
            added = await bagged(stack, client, room_id, product["product_id"])
            assert f'data-testid="bag-{product["product_id"]}"' in added.text
        moved = await htmx_post(
            client, f"/host/rooms/{room_id}/bag/move", kind="product", item_id=second["product_id"], step="-1"
        )
        assert moved.status_code == 200, moved.text
        bag = (await live_api(stack, "GET", f"/rooms/{room_id}/bag")).json()
        assert [i["product_id"] for i in bag["items"]] == [second["product_id"], first["product_id"]]
        assert moved.text.index(second["product_id"]) < moved.text.index(first["product_id"])

        pinned = await htmx_post(client, f"/host/rooms/{room_id}/pin", kind="product", item_id=first["product_id"])
        assert f'data-testid="pinned-{first["product_id"]}"' in pinned.text
        assert (await live_api(stack, "GET", f"/rooms/{room_id}/bag")).json()["pinned_product_id"] == first[
            "product_id"
        ]

        sku = first["skus"][1]["sku_id"]
        started = await htmx_post(client, f"/host/rooms/{room_id}/flash-sales", **sale_form(sku, quantity="4"))
        assert started.status_code == 200, started.text
        assert 'data-testid="sale-note">Flash sale started<' in started.text
        (sale,) = (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales")).json()["items"]
        assert (sale["sku_id"], sale["quantity"], sale["price_minor"], sale["per_buyer_limit"]) == (sku, 4, 999, 1)
        assert sale["status"] == "running"
        assert (
            590 <= (datetime.fromisoformat(sale["ends_at"]) - datetime.fromisoformat(sale["starts_at"])).seconds <= 600
        )

        # The console shows it, with its units left; ending it moves it to the earlier sales.
        console = await client.get(f"/host/rooms/{room_id}")
        assert f'data-testid="sale-remaining-{sale["sale_id"]}">4<' in console.text
        ended = await htmx_post(client, f"/host/rooms/{room_id}/flash-sales/{sale['sale_id']}/end")
        assert ended.status_code == 200, ended.text
        assert "Ended" in ended.text
        assert (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales/{sale['sale_id']}")).json()[
            "status"
        ] == "ended"

        # Unpin, take out: live's bag follows.
        await htmx_post(client, f"/host/rooms/{room_id}/pin", kind="product")
        removed = await htmx_post(
            client, f"/host/rooms/{room_id}/bag/remove", kind="product", item_id=second["product_id"]
        )
        assert f'data-testid="bag-{second["product_id"]}"' not in removed.text
        bag = (await live_api(stack, "GET", f"/rooms/{room_id}/bag")).json()
        assert ([i["product_id"] for i in bag["items"]], bag["pinned_product_id"]) == ([first["product_id"]], None)

        ended = await htmx_post(client, f"/host/rooms/{room_id}/end")
        assert 'data-testid="go-live"' in ended.text
        assert (await live_api(stack, "GET", f"/rooms/{room_id}")).json()["status"] == "ended"


async def test_a_plain_form_post_goes_back_to_the_console(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        room_id = await new_room(client)
        answer = await client.post(f"/host/rooms/{room_id}/start", data={"_csrf_token": csrf(client)})
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/host/rooms/{room_id}"
        # A refusal without HTMX: the whole console, the refusal by the part it concerns, live's status.
        again = await client.post(f"/host/rooms/{room_id}/start", data={"_csrf_token": csrf(client)})
        assert again.status_code == 409
        assert 'data-testid="status-refusal">the room is live already<' in again.text
        assert 'data-testid="console"' in again.text


async def test_live_refusals_are_shown_by_the_form_in_lives_words_with_its_status(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        room_id, product = await live_room_selling(stack, client, ("One", 2000, 3))
        sku = product["skus"][0]["sku_id"]

        too_many = await htmx_post(client, f"/host/rooms/{room_id}/flash-sales", **sale_form(sku, quantity="50"))
        assert too_many.status_code == 409, too_many.text
        assert 'data-testid="sale-error-quantity">only 3 of this SKU are available<' in too_many.text
        assert 'value="50"' in too_many.text  # what was typed stays

        limits = await htmx_post(client, f"/host/rooms/{room_id}/flash-sales", **sale_form(sku, per_buyer_limit="500"))
        assert limits.status_code == 422, limits.text
        assert 'data-testid="sale-error-per_buyer_limit">per_buyer_limit must be 1 to 100<' in limits.text

        typed = await htmx_post(client, f"/host/rooms/{room_id}/flash-sales", **sale_form("", price="1.234"))
        assert typed.status_code == 422
        assert 'data-testid="sale-error-sku_id">Fill this in<' in typed.text
        assert 'data-testid="sale-error-price">Too many decimal places for this currency<' in typed.text
        assert (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales")).json()["items"] == []

        await htmx_post(client, f"/host/rooms/{room_id}/end")
        drop = {
            "kind": "amount_off",
            "amount": "5",
            "currency": "USD",
            "min_spend": "20",
            "per_buyer_limit": "1",
            "total": "10",
            "valid_until": (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "idempotency_key": str(uuid.uuid4()),
        }
        not_live = await htmx_post(client, f"/host/rooms/{room_id}/coupon-drops", **drop)
        assert not_live.status_code == 409, not_live.text
        assert 'data-testid="drop-error"' in not_live.text
        assert "live" in not_live.text.split('data-testid="drop-error"')[1].split("<")[0]


async def test_the_host_drops_coupons_and_closes_the_drop(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        room_id, _product = await live_room_selling(stack, client)
        console = await client.get(f"/host/rooms/{room_id}")
        assert re.search(r'id="drop-currency"[^>]*value="USD"', console.text)
        drop = {
            "kind": "percent_off",
            "percent": "15",
            "currency": "USD",
            "min_spend": "30",
            "per_buyer_limit": "1",
            "total": "25",
            "valid_until": (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
            "idempotency_key": str(uuid.uuid4()),
        }
        dropped = await htmx_post(client, f"/host/rooms/{room_id}/coupon-drops", **drop)
        assert dropped.status_code == 200, dropped.text
        assert 'data-testid="drop-note">Coupons dropped<' in dropped.text
        # The same form again (a double click): one drop.
        await htmx_post(client, f"/host/rooms/{room_id}/coupon-drops", **drop)
        (made,) = (await live_api(stack, "GET", f"/rooms/{room_id}/coupon-drops")).json()["items"]
        assert (made["kind"], made["percent_off"], made["min_spend_minor"], made["total"]) == (
            "percent_off",
            15,
            3000,
            25,
        )

        console = await client.get(f"/host/rooms/{room_id}")
        assert f'data-testid="drop-claimed-{made["drop_id"]}">0 of 25 claimed<' in console.text
        assert "15% off on orders of $30.00 or more" in console.text
        closed = await htmx_post(client, f"/host/rooms/{room_id}/coupon-drops/{made['drop_id']}/end")
        assert closed.status_code == 200
        assert (await live_api(stack, "GET", f"/rooms/{room_id}/coupon-drops")).json()["items"] == []


async def test_a_deal_of_the_merchant_is_found_and_added_to_the_bag(stack: Stack) -> None:
    merchant = stack.demo.token(stack.infra, "merchant")
    title = f"Dim sum for four {uuid.uuid4().hex[:4]}"
    deal = await new_deal(stack, merchant, publish=True, title=title, currency="USD", store_ids=[stack.demo.store_id])
    async with signed_in_as(stack, "host") as client:
        room_id = await new_room(client)
        found = await client.get(f"/host/rooms/{room_id}/deals", params={"q": title}, headers=HTMX)
        assert f'name="deal_id" value="{deal["deal_id"]}"' in found.text

        async def added() -> httpx.Response | None:
            answer = await htmx_post(client, f"/host/rooms/{room_id}/bag", deal_id=deal["deal_id"])
            return answer if answer.status_code == 200 else None

        answer = await eventually(added, timeout=15)
        assert f'data-testid="bag-{deal["deal_id"]}"' in answer.text
        bag = (await live_api(stack, "GET", f"/rooms/{room_id}/bag")).json()
        assert [i.get("deal_id") for i in bag["items"]] == [deal["deal_id"]]


async def test_another_hosts_room_is_forbidden_and_an_unknown_one_is_not_found(stack: Stack) -> None:
    other = stack.infra.token("host", merchant_id=stack.demo.merchant_id)
    made = await live_api(stack, "POST", "/rooms", other, json={"title": "Not yours"})
    assert made.status_code == 201, made.text
    room_id = made.json()["room_id"]
    async with signed_in_as(stack, "host") as client:
        assert (await client.get(f"/host/rooms/{room_id}")).status_code == 403
        refused = await htmx_post(client, f"/host/rooms/{room_id}/start")
        assert refused.status_code == 403
        assert (await live_api(stack, "GET", f"/rooms/{room_id}")).json()["status"] == "scheduled"
        assert (await client.get(f"/host/rooms/{room_id}/stream")).status_code == 403
        assert (await client.get(f"/host/rooms/{uuid.uuid4()}")).status_code == 404
        assert (await client.get("/host/rooms/not-a-room")).status_code == 404


@pytest.mark.parametrize("role", ["buyer", "merchant"])
async def test_only_a_host_gets_the_console(stack: Stack, role: str) -> None:
    async with signed_in_as(stack, role) as client:
        assert (await client.get("/host")).status_code == 403
        answer = await client.post("/host/rooms", data={"title": "x", "_csrf_token": csrf(client)})
        assert answer.status_code == 403


async def test_the_consoles_forms_need_their_csrf_token(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        room_id = await new_room(client)
        refused = await client.post(f"/host/rooms/{room_id}/start", headers=HTMX)
        assert refused.status_code == 403
        assert (await live_api(stack, "GET", f"/rooms/{room_id}")).json()["status"] == "scheduled"
        refused = await client.post("/host/rooms", data={"title": "No token"})
        assert refused.status_code == 403


async def test_the_console_reads_in_simplified_chinese(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        room_id = await new_room(client)
        client.cookies.set("liveloop_lang", "zh_Hans")
        console = await client.get(f"/host/rooms/{room_id}")
        assert console.status_code == 200
        assert "开始直播" in console.text
        assert "秒杀" in console.text


# --- the console's stream -------------------------------------------------------------------------------------------


async def test_the_consoles_stream_relays_sales_stock_drops_and_figures_as_fragments(stack: Stack) -> None:
    buyer = stack.infra.token("buyer")
    async with signed_in_as(stack, "host") as client:
        room_id, product = await live_room_selling(stack, client, ("One", 2000, 10))
        sku = product["skus"][0]["sku_id"]
        console = await client.get(f"/host/rooms/{room_id}")
        async with stream(client, f"/host/rooms/{room_id}/stream?seq={seq_of(console.text)}") as events:
            # First the figures (the funnel feed's first push).
            figures = await events.until("funnel")
            assert 'data-testid="funnel-views"' in figures.data

            # A sale started elsewhere (live's API): its card arrives, then its stock as a buyer buys.
            sale = (
                await live_api(
                    stack,
                    "POST",
                    f"/rooms/{room_id}/flash-sales",
                    host_token(stack),
                    json={
                        "sku_id": sku,
                        "quantity": 6,
                        "price_minor": 1000,
                        "per_buyer_limit": 2,
                        "duration_s": 600,
                    },
                )
            ).json()
            card = await events.until("sale-added", sale["sale_id"])
            assert f'data-testid="sale-remaining-{sale["sale_id"]}">6<' in card.data
            assert "$10.00" in card.data
            assert (await live_api(stack, "POST", f"/rooms/{room_id}/join", buyer)).status_code == 200
            bought = await live_api(
                stack,
                "POST",
                f"/rooms/{room_id}/flash-sales/{sale['sale_id']}/purchase",
                buyer,
                json={"quantity": 2},
                headers={"Idempotency-Key": str(uuid.uuid4())},
            )
            assert bought.status_code == 201, bought.text
            stock = await events.until(f"sale-{sale['sale_id']}", ">4<")
            assert f'data-testid="sale-remaining-{sale["sale_id"]}">4<' in stock.data

            # A drop, and a claim: the claimed count moves (re-read when the funnel says coupons were claimed).
            drop = (
                await live_api(
                    stack,
                    "POST",
                    f"/rooms/{room_id}/coupon-drops",
                    host_token(stack),
                    json={
                        "kind": "amount_off",
                        "amount_off_minor": 300,
                        "currency": "USD",
                        "total": 5,
                        "valid_until": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    },
                )
            ).json()
            added = await events.until("drop-added", drop["drop_id"])
            assert "0 of 5 claimed" in added.data
            claimed = await live_api(stack, "POST", f"/rooms/{room_id}/coupon-drops/{drop['drop_id']}/claim", buyer)
            assert claimed.status_code == 201, claimed.text
            # The funnel push that counts the claim comes first, then the drop it made the console read again.
            funnel = await events.until("funnel", 'data-testid="funnel-coupons-claimed">1<', timeout=20)
            assert 'data-testid="funnel-views">1<' in funnel.data
            moved = await events.until(f"drop-{drop['drop_id']}", "1 of 5 claimed")
            assert f'data-testid="drop-claimed-{drop["drop_id"]}"' in moved.data

            # Bag changes redraw the bag and the sale form's SKU choices.
            other = await demo_product(stack, ("Big", 5000, 2))
            await bagged(stack, client, room_id, other["product_id"])
            bag = await events.until("bag", other["product_id"])
            assert bag.data.index(product["product_id"]) < bag.data.index(other["product_id"])
            options = await events.until("sku-options", other["skus"][0]["sku_id"])
            assert "Big" in options.data


async def test_a_console_stream_from_a_page_still_current_sends_nothing_but_live_changes(stack: Stack) -> None:
    async with signed_in_as(stack, "host") as client:
        room_id = await new_room(client)
        console = await client.get(f"/host/rooms/{room_id}")
        async with stream(client, f"/host/rooms/{room_id}/stream?seq={seq_of(console.text)}") as events:
            first = await events.next()
            assert first.event in ("viewers", "funnel")
            await htmx_post(client, f"/host/rooms/{room_id}/start")
            status = await events.until("status")
            assert 'data-testid="end-live"' in status.data
        # A page drawn at an older position gets the whole room again.
        async with stream(client, f"/host/rooms/{room_id}/stream?seq=0") as events:
            names = {(await events.next()).event for _ in range(8)}
            assert {"status", "bag", "sales", "drops", "sku-options", "funnel"} <= names
