"""The buyer's room page over HTTP, against real services: the room as anyone sees it; a buyer joining on opening it,
staying with heartbeats, buying in a flash sale (admitted: the order to pay; refused in live's words with live's
status) and claiming a coupon; the page's stream relaying the room feed as fragments, sending nothing the page already
shows, closing live's feed when the browser goes away and ending when live's feed ends."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.live.rooms.adapters.feed_hub import feed_hub
from services.web.adapters.feeds import SseParser
from services.web.domain.live import apply, countdown, screen_of
from services.web.views.live import Part
from tests.harness import Stack, eventually
from tests.integration.web.support import browser, csrf, hidden, signed_in_as
from tests.integration.web.test_host_console import (
    WebStream,
    bagged,
    demo_product,
    host_token,
    htmx_post,
    live_api,
    live_room_selling,
    seq_of,
    stream,
)

SERVICES = ("shop", "live", "web")
# Every test here is the one demo buyer opening rooms: live's per-token join and purchase throttles would decide
# the tests instead of the pages.
SETTINGS = {"join_burst": 1000, "join_rate_per_s": 100.0, "purchase_burst": 1000, "purchase_rate_per_s": 100.0}
# Async tests run in the session's loop (asyncio_mode "auto"): no module mark, which the pure tests below would carry.


async def open_sale(stack: Stack, room_id: str, sku_id: str, **terms: Any) -> dict[str, Any]:
    """A flash sale started through live's API, as the room's host."""
    body = {"sku_id": sku_id, "quantity": 3, "price_minor": 990, "per_buyer_limit": 1, "duration_s": 600} | terms
    made = await live_api(stack, "POST", f"/rooms/{room_id}/flash-sales", host_token(stack), json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def selling_room(stack: Stack, *skus: tuple[str, int, int]) -> tuple[str, dict[str, Any]]:
    """A live room of the demo host with a fresh product in its bag, made through the console."""
    async with signed_in_as(stack, "host") as host:
        return await live_room_selling(stack, host, *skus)


async def present_viewers(stack: Stack, room_id: str) -> int:
    answer = await live_api(stack, "GET", f"/rooms/{room_id}/stats", host_token(stack))
    return int(answer.json()["concurrent_viewers"])


def purchase_form(html: str, sale_id: str) -> dict[str, str]:
    card = re.search(rf'action="/rooms/[^"]+/flash-sales/{sale_id}/purchase".*?</form>', html, re.S)
    assert card, "no Buy form for the sale"
    return {"idempotency_key": hidden(card.group(0), "idempotency_key"), "quantity": "1"}


async def test_anyone_sees_the_room_its_pinned_card_bag_and_sale(stack: Stack) -> None:
    room_id, product = await selling_room(stack, ("Red", 3200, 5), ("Blue", 3000, 0))
    await live_api(stack, "PUT", f"/rooms/{room_id}/pin", host_token(stack), json={"product_id": product["product_id"]})
    sale = await open_sale(stack, room_id, product["skus"][0]["sku_id"], quantity=2)
    async with browser(stack) as visitor:
        page = await visitor.get(f"/rooms/{room_id}")
    assert page.status_code == 200, page.text
    text = page.text
    assert 'data-testid="room-status">Live<' in text
    assert 'href="/hosts/host-demo"' in text
    assert f'sse-connect="/rooms/{room_id}/stream?seq=' in text
    pinned = re.search(r'data-testid="pinned".*?</div>', text, re.S)
    assert pinned
    assert product["title"] in pinned.group(0)
    assert "$30.00" in pinned.group(0)  # the lowest SKU price
    bag = re.search(rf'data-testid="bag-{product["product_id"]}".*?</li>', text, re.S)
    assert bag
    assert "In stock" in bag.group(0)
    card = re.search(rf'data-testid="sale-{sale["sale_id"]}".*?</li>', text, re.S)
    assert card
    assert f'data-testid="sale-remaining-{sale["sale_id"]}">2<' in card.group(0)
    assert "$9.90" in card.group(0)
    assert re.search(r'data-ends-at="[^"]+" data-testid="[^"]+">(\d\d:\d\d)</time>', card.group(0))
    # Not signed in: nothing to buy with, a way to sign in instead.
    assert "/purchase" not in text
    assert 'action="/cart/items"' not in text
    assert f'href="/sign-in?next=/rooms/{room_id}"' in text

    async with browser(stack) as visitor:
        assert (await visitor.get(f"/rooms/{uuid.uuid4()}")).status_code == 404
        assert (await visitor.get("/rooms/nothing-here")).status_code == 404
        assert (await visitor.get(f"/rooms/{uuid.uuid4()}/stream")).status_code == 404


async def test_a_buyer_opening_a_live_room_watches_it_until_they_leave(stack: Stack) -> None:
    room_id, product = await selling_room(stack)
    async with signed_in_as(stack, "buyer") as buyer:
        page = await buyer.get(f"/rooms/{room_id}")
        assert page.status_code == 200, page.text
        assert 'hx-trigger="every 15s"' in page.text
        # Add to cart goes to the cart's route, from this room, back here.
        cart = re.search(r'action="/cart/items".*?</form>', page.text, re.S)
        assert cart
        assert f'name="room_id" value="{room_id}"' in cart.group(0)
        assert f'name="next" value="/rooms/{room_id}"' in cart.group(0)
        assert f'value="{product["skus"][0]["sku_id"]}"' in cart.group(0)
        assert await present_viewers(stack, room_id) == 1

        beat = await buyer.post(f"/rooms/{room_id}/heartbeat", data={"_csrf_token": csrf(buyer)})
        assert beat.status_code == 204
        left = await buyer.post(f"/rooms/{room_id}/leave", data={"_csrf_token": csrf(buyer)})
        assert left.status_code == 303
        assert left.headers["location"] == "/live"
        assert await present_viewers(stack, room_id) == 0
        # A heartbeat after leaving joins again (the page is still open, the buyer still watching).
        await buyer.post(f"/rooms/{room_id}/heartbeat", data={"_csrf_token": csrf(buyer)})
        assert await present_viewers(stack, room_id) == 1
        assert (await buyer.post(f"/rooms/{room_id}/heartbeat")).status_code == 403  # no CSRF token


async def test_a_buyer_buys_in_a_flash_sale_and_is_sent_to_pay(stack: Stack) -> None:
    room_id, product = await selling_room(stack, ("One", 4000, 5))
    sale = await open_sale(stack, room_id, product["skus"][0]["sku_id"], quantity=2)
    async with signed_in_as(stack, "buyer") as buyer:
        page = await buyer.get(f"/rooms/{room_id}")
        form = purchase_form(page.text, sale["sale_id"])
        path = f"/rooms/{room_id}/flash-sales/{sale['sale_id']}/purchase"
        bought = await htmx_post(buyer, path, **form)
        assert bought.status_code == 200, bought.text
        paid = re.search(r'href="/orders/([0-9a-f-]{36})/pay"', bought.text)
        assert paid, bought.text
        assert "Pay by " in bought.text
        # A double click (the same form, the same key): the same admission.
        again = await htmx_post(buyer, path, **form)
        assert f'href="/orders/{paid.group(1)}/pay"' in again.text
        left = await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales/{sale['sale_id']}")
        assert left.json()["remaining"] == 1

        # Once more with a fresh form: over the limit, refused in live's words with live's status.
        fresh = purchase_form((await buyer.get(f"/rooms/{room_id}")).text, sale["sale_id"])
        refused = await htmx_post(buyer, path, **fresh)
        assert refused.status_code == 409
        assert 'data-testid="purchase-refusal">a buyer may buy at most 1 in this flash sale<' in refused.text
        # A form without its key: nothing bought.
        keyless = await htmx_post(buyer, path, quantity="1")
        assert keyless.status_code == 400
        assert (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales/{sale['sale_id']}")).json()[
            "remaining"
        ] == 1

    # Another buyer takes the last unit; a third finds it sold out, with the Buy button disabled.
    token = stack.infra.token("buyer")
    last = await live_api(
        stack,
        "POST",
        f"/rooms/{room_id}/flash-sales/{sale['sale_id']}/purchase",
        token,
        json={"quantity": 1},
        headers={"Idempotency-Key": "k1"},
    )
    assert last.status_code == 201, last.text
    async with signed_in_as(stack, "buyer") as buyer:
        page = await buyer.get(f"/rooms/{room_id}")
        assert re.search(rf'data-testid="buy-{sale["sale_id"]}" disabled>\s*Sold out', page.text)


async def test_sold_out_and_not_running_are_refused_on_the_page_without_htmx_too(stack: Stack) -> None:
    room_id, product = await selling_room(stack, ("One", 4000, 5))
    sale = await open_sale(stack, room_id, product["skus"][0]["sku_id"], quantity=1)
    later = await open_sale(
        stack,
        room_id,
        product["skus"][0]["sku_id"],
        quantity=1,
        starts_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
    )
    other = stack.infra.token("buyer")
    await live_api(
        stack,
        "POST",
        f"/rooms/{room_id}/flash-sales/{sale['sale_id']}/purchase",
        other,
        json={"quantity": 1},
        headers={"Idempotency-Key": "first"},
    )
    async with signed_in_as(stack, "buyer") as buyer:
        page = await buyer.get(f"/rooms/{room_id}")
        assert f'data-testid="sale-status-{later["sale_id"]}">Starts in' in page.text
        for target, words in (
            (sale, "every unit of this flash sale is taken"),
            (later, "the flash sale has not started yet"),
        ):
            form = {"idempotency_key": str(uuid.uuid4()), "quantity": "1", "_csrf_token": csrf(buyer)}
            answer = await buyer.post(f"/rooms/{room_id}/flash-sales/{target['sale_id']}/purchase", data=form)
            assert answer.status_code == 409, answer.text
            outcome = re.search(rf'data-testid="purchase-{target["sale_id"]}">(.*?)</div>', answer.text, re.S)
            assert outcome
            assert words in outcome.group(1)
            assert 'data-testid="room"' in answer.text  # the whole page, the refusal by its sale


async def test_a_buyer_claims_a_coupon_once(stack: Stack) -> None:
    room_id, _product = await selling_room(stack)
    valid_until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"kind": "amount_off", "amount_off_minor": 500, "currency": "USD", "min_spend_minor": 2000, "total": 3}
    made = await live_api(
        stack, "POST", f"/rooms/{room_id}/coupon-drops", host_token(stack), json=body | {"valid_until": valid_until}
    )
    drop = made.json()
    async with signed_in_as(stack, "buyer") as buyer:
        page = await buyer.get(f"/rooms/{room_id}")
        card = re.search(rf'data-testid="drop-{drop["drop_id"]}".*?</li>', page.text, re.S)
        assert card
        assert "$5.00 off on orders of $20.00 or more" in card.group(0)
        assert "3 left" in card.group(0)
        path = f"/rooms/{room_id}/coupon-drops/{drop['drop_id']}/claim"
        claimed = await htmx_post(buyer, path, idempotency_key=hidden(card.group(0), "idempotency_key"))
        assert claimed.status_code == 200, claimed.text
        assert 'data-testid="claim-coupon"' in claimed.text
        assert "$5.00 off" in claimed.text
        mine = (await live_api(stack, "GET", "/coupons", stack.demo.token(stack.infra, "buyer"))).json()["items"]
        assert [c["drop_id"] for c in mine if c["room_id"] == room_id] == [drop["drop_id"]]

        again = await htmx_post(buyer, path, idempotency_key=str(uuid.uuid4()))
        assert again.status_code == 409
        assert "the most one buyer may" in again.text
        page = await buyer.get(f"/rooms/{room_id}")
        assert 'data-testid="my-coupons"' in page.text


async def test_the_room_stream_shows_a_sale_as_it_starts_and_its_stock_as_it_sells(stack: Stack) -> None:
    room_id, product = await selling_room(stack, ("One", 4000, 9))
    async with signed_in_as(stack, "buyer") as buyer:
        page = await buyer.get(f"/rooms/{room_id}")
        async with stream(buyer, f"/rooms/{room_id}/stream?seq={seq_of(page.text)}") as events:
            # The page is current: no redraw, only the viewer count.
            first = await events.next()
            assert first.event == "viewers"
            starts = datetime.now(UTC) + timedelta(seconds=2)
            sale = await open_sale(
                stack, room_id, product["skus"][0]["sku_id"], quantity=4, starts_at=starts.isoformat()
            )
            card = await events.until("sale-added", sale["sale_id"])
            assert "Starts in" in card.data
            assert f'data-testid="buy-{sale["sale_id"]}" disabled>Not started yet' in card.data
            assert 'name="idempotency_key"' in card.data  # a Buy form, fresh key and all, for this buyer
            assert 'name="_csrf_token"' in card.data
            # Its start job runs: the button turns into Buy.
            button = await events.until(f"buy-{sale['sale_id']}", "Buy now", timeout=15)
            assert "disabled" not in button.data
            await live_api(
                stack,
                "POST",
                f"/rooms/{room_id}/flash-sales/{sale['sale_id']}/purchase",
                stack.infra.token("buyer"),
                json={"quantity": 1},
                headers={"Idempotency-Key": "x"},
            )
            stock = await events.until(f"sale-{sale['sale_id']}", f'data-testid="sale-remaining-{sale["sale_id"]}">3<')
            assert "Ends in" in stock.data

            # The host pins and adds a product: pinned card and bag redrawn.
            await live_api(
                stack, "PUT", f"/rooms/{room_id}/pin", host_token(stack), json={"product_id": product["product_id"]}
            )
            pinned = await events.until("pinned", product["title"])
            assert 'data-testid="pinned-cart-' in pinned.data
            other = await demo_product(stack, ("Small", 1200, 4))
            async with signed_in_as(stack, "host") as host:
                await bagged(stack, host, room_id, other["product_id"])
            bag = await events.until("bag", other["title"])
            assert "$12.00" in bag.data
            assert bag.data.index(product["title"]) < bag.data.index(other["title"])

            # The room ends, and its sale with it (in whichever order live's feed has them).
            await live_api(stack, "POST", f"/rooms/{room_id}/end", host_token(stack))
            seen: dict[str, str] = {}
            while not {"status", f"buy-{sale['sale_id']}"} <= seen.keys():
                event = await events.next()
                seen[event.event] = event.data
            assert 'data-testid="room-status">Ended<' in seen["status"]
            assert re.search(r"disabled>\s*Ended", seen[f"buy-{sale['sale_id']}"])


async def test_a_stream_gone_closes_lives_feed_and_a_feed_gone_ends_the_stream(stack: Stack) -> None:
    room_id, _product = await selling_room(stack)
    hub = feed_hub(stack.apps["live"].runtime)

    def followers() -> int:
        return len(hub._clients.get(room_id, ()))  # live's own count of this room's feed clients

    async with browser(stack) as visitor:
        async with stream(visitor, f"/rooms/{room_id}/stream?seq=0") as events:
            assert (await events.until("status")).data
            assert followers() == 1
        # The browser went away: the web app let go of live's feed.
        await eventually(lambda: followers() == 0, timeout=10)

        async with stream(visitor, f"/rooms/{room_id}/stream?seq=0") as events:
            await events.until("status")
            # live's feed ends (a restart, a client too slow): so does the browser's stream, which reconnects.
            for client in list(hub._clients.get(room_id, ())):
                client.close()
            with pytest.raises(EOFError):
                await _drain(events)


async def _drain(events: WebStream) -> None:
    while True:
        await events.next(timeout=10)


async def test_many_viewers_of_a_room_share_one_read_of_its_bag(stack: Stack) -> None:
    room_id, _product = await selling_room(stack)
    async with browser(stack) as first:
        seq = seq_of((await first.get(f"/rooms/{room_id}")).text)
    streams = []
    clients = [httpx.AsyncClient(base_url=stack.url("web"), timeout=30) for _ in range(5)]
    try:
        for client in clients:
            streams.append(
                client.stream("GET", f"/rooms/{room_id}/stream?seq={seq}", timeout=httpx.Timeout(30, read=None))
            )
        responses = await asyncio.gather(*(s.__aenter__() for s in streams))
        assert all(r.status_code == 200 for r in responses)
        other = await demo_product(stack, ("Tiny", 500, 4))
        async with signed_in_as(stack, "host") as host:
            await bagged(stack, host, room_id, other["product_id"])

        async def bag_event(response: httpx.Response) -> str:
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event == "bag" and other["title"] in line:
                    return line
            raise EOFError

        await asyncio.wait_for(asyncio.gather(*(bag_event(r) for r in responses)), 15)
    finally:
        for s in streams:
            await s.__aexit__(None, None, None)
        for client in clients:
            await client.aclose()


async def test_only_a_buyer_buys_claims_or_keeps_a_visit(stack: Stack) -> None:
    room_id, product = await selling_room(stack)
    sale = await open_sale(stack, room_id, product["skus"][0]["sku_id"])
    async with signed_in_as(stack, "merchant") as merchant:
        page = await merchant.get(f"/rooms/{room_id}")
        assert page.status_code == 200
        assert "/purchase" not in page.text
        path = f"/rooms/{room_id}/flash-sales/{sale['sale_id']}/purchase"
        refused = await htmx_post(merchant, path, idempotency_key=str(uuid.uuid4()), quantity="1")
        assert refused.status_code == 403
    async with browser(stack) as visitor:
        await visitor.get(f"/rooms/{room_id}")
        answer = await visitor.post(f"/rooms/{room_id}/heartbeat", data={"_csrf_token": csrf(visitor)})
        assert answer.status_code == 303  # off to sign in
    assert (await live_api(stack, "GET", f"/rooms/{room_id}/flash-sales/{sale['sale_id']}")).json()["remaining"] == 3


# --- the relay's pure parts (no stack) ----------------------------------------------------------------------------


def test_the_sse_parser_reads_events_ids_multiline_data_and_keepalives() -> None:
    parser = SseParser()
    lines = ["retry: 2000", "id: 7", "event: sale.stock", 'data: {"sale_id": "s",', 'data: "remaining": 2}', ""]
    events = [parser.line(line) for line in [*lines, ": keep-alive", "", "", "data: plain", ""]]
    stock, keepalive, plain = (e for e in events if e is not None)
    assert (stock.event, stock.id, stock.data) == ("sale.stock", "7", '{"sale_id": "s",\n"remaining": 2}')
    assert keepalive.keepalive
    assert (plain.event, plain.data, plain.keepalive) == ("message", "plain", False)


def _state(**sales: dict[str, Any]) -> dict[str, Any]:
    room = {"room_id": "r", "title": "T", "host_id": "h", "merchant_id": "m", "status": "live"}
    return {"room": room, "pinned": None, "sales": list(sales.values()), "coupon_drops": [], "seq": 4}


def _sale(sale_id: str, **fields: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "sale_id": sale_id,
        "product_id": "p",
        "sku_id": "k",
        "title": "T",
        "sku_name": "M",
        "price_minor": 100,
        "currency": "USD",
        "quantity": 5,
        "remaining": 5,
        "per_buyer_limit": 1,
        "status": "running",
        "starts_at": now.isoformat(),
        "ends_at": (now + timedelta(minutes=5)).isoformat(),
    } | fields


def test_feed_events_change_only_the_parts_they_name() -> None:
    screen = screen_of(_state(a=_sale("a")))
    assert apply(screen, "sale.stock", {"sale_id": "a", "remaining": 2, "seq": 5}).parts == [Part("sale", "a")]
    assert (screen.sale("a").remaining, screen.seq) == (2, 5)
    assert apply(screen, "sale.sold_out", {"sale_id": "a"}).parts == [Part("sale", "a")]
    assert screen.sale("a").sold_out
    assert apply(screen, "sale.scheduled", _sale("b", status="scheduled")).parts == [Part("sale-added", "b")]
    assert apply(screen, "sale.started", _sale("b", status="scheduled")).parts == [Part("sale", "b")]
    assert screen.sale("b").buyable
    assert apply(screen, "sale.stock", {"sale_id": "unknown", "remaining": 1}).parts == []
    assert apply(screen, "viewers", {"concurrent_viewers": 12}).parts == [Part("viewers")]
    assert apply(screen, "bag.changed", {"items": [{"product_id": "new"}]}).reread_bag
    assert apply(screen, "something.new", {}).parts == []


def test_a_countdown_reads_as_the_script_ticks_it() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert countdown(now + timedelta(seconds=299.5), now) == "04:59"
    assert countdown(now + timedelta(hours=1, minutes=2, seconds=3), now) == "1:02:03"
    assert countdown(now - timedelta(seconds=5), now) == "00:00"
