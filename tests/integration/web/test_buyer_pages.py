"""The buyer pages over HTTP, against real services: rooms live now and followed hosts, a host page with follow and
unfollow, product search, the cart (added, changed, removed: read back from shop; refusals shown in shop's words;
coupons a shop's order can take), deals nearby by distance, my vouchers with their QR code and a refund; another
buyer's voucher 404, other roles 403, forms without their CSRF token refused."""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest

from tests.harness import Stack, eventually, onboard_merchant
from tests.integration.local_life.support import merchant, new_deal, new_store
from tests.integration.orders.support import Buyer, pay_checkout
from tests.integration.orders.test_deal_lines import vouchers_of
from tests.integration.web.support import browser, csrf, hidden, signed_in_as

SERVICES = ("shop", "live", "local_life", "orders", "web")
# A small cart cap, so a full cart is quick to reach (each test's buyer is fresh, with at most three lines).
SETTINGS = {"max_cart_lines": 3}
pytestmark = pytest.mark.asyncio(loop_scope="session")

# Metres per degree of latitude on local_life's sphere (radius 6,371,008.8 m).
M_PER_DEGREE = 2 * math.pi * 6_371_008.8 / 360


@asynccontextmanager
async def buyer_session(stack: Stack, buyer_id: str | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A fresh buyer signed in as the identity provider signs people in (its form post of a token), with the CSRF
    cookie a first page sets: (their browser, their id)."""
    buyer_id = buyer_id or f"buyer-{uuid.uuid4().hex[:10]}"
    async with browser(stack) as client:
        signed = await client.post("/sign-in/callback", data={"token": stack.infra.token("buyer", sub=buyer_id)})
        assert signed.status_code == 303, signed.text
        assert (await client.get("/cart")).status_code == 200
        yield client, buyer_id


async def _product(stack: Stack, token: str, *skus: tuple[str, int, int], title: str | None = None) -> dict:
    """A published product of the token's merchant: (name, price_minor, stock) per SKU."""
    body = {
        "title": title or f"Quokka plush {uuid.uuid4().hex[:8]}",
        "description": "Soft",
        "skus": [{"name": name, "price_minor": price, "stock": stock} for name, price, stock in skus],
    }
    async with stack.client("shop", token) as shop:
        created = await shop.post("/seller/products", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def _shop_cart(stack: Stack, buyer_id: str) -> dict[str, int]:
    """sku id -> quantity in the buyer's cart, as shop has it."""
    async with stack.client("shop", stack.infra.token("buyer", sub=buyer_id)) as shop:
        cart = await shop.get("/cart")
    assert cart.status_code == 200, cart.text
    return {line["sku_id"]: line["quantity"] for line in cart.json()["items"]}


def _testids(html: str, prefix: str) -> list[str]:
    """The ids after `prefix` of the elements whose data-testid starts with it, in page order."""
    return re.findall(rf'data-testid="{re.escape(prefix)}([^"]+)"', html)


def _text(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>([^<]*)<', html)
    assert found, f"no {testid} in the page"
    return found.group(1).strip()


# --- live now, hosts -----------------------------------------------------------------------------------------------


async def _room(stack: Stack, host_id: str, merchant_id: str, title: str, **fields: object) -> str:
    token = stack.infra.token("host", sub=host_id, merchant_id=merchant_id)
    async with stack.client("live", token) as live:
        created = await live.post("/rooms", json={"title": title, "merchant_id": merchant_id, **fields})
        assert created.status_code == 201, created.text
        room_id = created.json()["room_id"]
        if "scheduled_start_at" not in fields:
            started = await live.post(f"/rooms/{room_id}/start")
            assert started.status_code == 200, started.text
    return str(room_id)


async def _watch(stack: Stack, room_id: str, viewers: int) -> None:
    for _ in range(viewers):
        async with stack.client("live", stack.infra.token("buyer")) as viewer:
            joined = await viewer.post(f"/rooms/{room_id}/join")
            assert joined.status_code in (200, 201), joined.text


async def test_live_now_lists_rooms_by_viewers_and_scheduled_ones_and_a_followed_host(stack: Stack) -> None:
    merchant_id = str(uuid.uuid4())
    busy_host, quiet_host = f"host-{uuid.uuid4().hex[:8]}", f"host-{uuid.uuid4().hex[:8]}"
    quiet = await _room(stack, quiet_host, merchant_id, "Quiet tea tasting")
    busy = await _room(stack, busy_host, merchant_id, "Busy flash hour", cover_url="https://cdn.example.com/c.jpg")
    soon = await _room(
        stack,
        quiet_host,
        merchant_id,
        "Tomorrow's drop",
        scheduled_start_at=(stack.clock.now() + timedelta(days=1)).isoformat(),
    )
    await _watch(stack, busy, 2)
    await _watch(stack, quiet, 1)
    async with buyer_session(stack) as (client, _buyer):
        page = await client.get("/live")
        assert page.status_code == 200, page.text
        live_section = page.text.split('data-testid="live-rooms"')[1].split("</ul>")[0]
        ours = [room for room in _testids(live_section, "room-title-") if room in (busy, quiet)]
        assert ours == [busy, quiet]  # most viewers first
        assert _text(page.text, f"viewers-{busy}") == "2 watching"
        assert f'href="/rooms/{busy}"' in page.text
        assert 'src="https://cdn.example.com/c.jpg"' in page.text
        assert soon in page.text.split('data-testid="scheduled-rooms"')[1]
        assert 'data-testid="no-following"' in page.text

        # Follow the quiet host from their page: one fan more, and /live lists them and their live room.
        host_page = await client.get(f"/hosts/{quiet_host}")
        assert host_page.status_code == 200
        assert _text(host_page.text, "host-fans") == "Fans: 0"
        assert {quiet, soon} <= set(_testids(host_page.text, "room-title-"))
        followed = await client.post(f"/hosts/{quiet_host}/follow", data={"_csrf_token": csrf(client)})
        assert followed.status_code == 303
        assert followed.headers["location"] == f"/hosts/{quiet_host}"
        host_page = await client.get(f"/hosts/{quiet_host}")
        assert _text(host_page.text, "host-fans") == "Fans: 1"
        assert 'data-testid="unfollow"' in host_page.text
        page = await client.get("/live")
        assert f'data-testid="followed-{quiet_host}"' in page.text
        assert _testids(page.text.split('data-testid="following-rooms"')[1].split("</ul>")[0], "room-title-") == [quiet]

        unfollowed = await client.post(f"/hosts/{quiet_host}/unfollow", data={"_csrf_token": csrf(client)})
        assert unfollowed.status_code == 303
        assert _text((await client.get(f"/hosts/{quiet_host}")).text, "host-fans") == "Fans: 0"
        # live's count agrees.
        async with stack.client("live") as live:
            assert (await live.get(f"/hosts/{quiet_host}")).json()["fans"] == 0

        # A host with no room: live's 404 is the page's.
        assert (await client.get(f"/hosts/nobody-{uuid.uuid4().hex[:6]}")).status_code == 404
        # A tampered cursor gives the first page rather than an error.
        assert (await client.get("/live", params={"live": "garbage"})).status_code == 200


# --- search, product, cart ---------------------------------------------------------------------------------------


async def test_search_finds_a_product_by_title_with_its_price_and_stock_and_filters_by_price(stack: Stack) -> None:
    _merchant_id, token = await onboard_merchant(stack, currency="USD")
    word = uuid.uuid4().hex[:8]
    plush = await _product(stack, token, ("Small", 1250, 4), ("Large", 2500, 0), title=f"Quokka plush {word}")
    gone = await _product(stack, token, ("One", 900, 0), title=f"Quokka mug {word}")
    async with buyer_session(stack) as (client, _buyer):
        found = await client.get("/search", params={"q": f"quokka {word}"})
        assert found.status_code == 200, found.text
        assert plush["product_id"] in _testids(found.text, "result-")
        assert _text(found.text, f"price-{plush['product_id']}") == "$12.50 \u2013 $25.00"
        assert _text(found.text, f"stock-{plush['product_id']}") == "In stock"
        assert _text(found.text, f"stock-{gone['product_id']}") == "Sold out"

        in_stock = await client.get("/search", params={"q": word, "in_stock": "1"})
        assert plush["product_id"] in in_stock.text
        assert gone["product_id"] not in in_stock.text
        priced = await client.get("/search", params={"q": word, "min_price": "20", "max_price": "30"})
        assert _testids(priced.text, "result-") == [plush["product_id"]]
        cheap = await client.get("/search", params={"q": word, "max_price": "5"})
        assert _testids(cheap.text, "result-") == []
        assert 'data-testid="no-results"' in cheap.text

        # What the page refuses (an amount the currency cannot hold), and what shop refuses (min above max), by field.
        typo = await client.get("/search", params={"q": word, "min_price": "1.005"})
        assert typo.status_code == 422
        assert _text(typo.text, "error-min_price") == "Too many decimal places for this currency"
        upside_down = await client.get("/search", params={"q": word, "min_price": "30", "max_price": "20"})
        assert upside_down.status_code == 422
        assert _text(upside_down.text, "error-max_price") == "min_price_minor is above max_price_minor"

        product = await client.get(f"/products/{plush['product_id']}")
        assert product.status_code == 200
        large, small = sorted(plush["skus"], key=lambda s: -s["price_minor"])
        assert _text(product.text, f"sku-price-{small['sku_id']}") == "$12.50"
        assert _text(product.text, f"sku-stock-{small['sku_id']}") == "4 in stock"
        assert re.search(rf'value="{large["sku_id"]}"[^>]*disabled', product.text, re.S)  # sold out: not choosable
        assert uuid.UUID(hidden(product.text, "idempotency_key"))  # "Buy now" posts to /checkout with a fresh key
        assert 'formaction="/checkout"' in product.text
        assert (await client.get(f"/products/{uuid.uuid4()}")).status_code == 404


async def test_a_buyer_adds_changes_and_removes_cart_lines_and_shop_has_them(stack: Stack) -> None:
    _merchant_id, token = await onboard_merchant(stack, currency="USD")
    product = await _product(stack, token, ("Tin", 1250, 5))
    sku_id = product["skus"][0]["sku_id"]
    async with buyer_session(stack) as (client, buyer_id):
        empty = await client.get("/cart")
        assert 'data-testid="cart-empty"' in empty.text
        form = {"sku_id": sku_id, "quantity": "2", "product_id": product["product_id"], "_csrf_token": csrf(client)}
        added = await client.post("/cart/items", data=form)
        assert added.status_code == 303
        assert added.headers["location"] == "/cart"
        assert await _shop_cart(stack, buyer_id) == {sku_id: 2}

        cart = await client.get("/cart")
        assert _text(cart.text, f"line-title-{sku_id}") == product["title"]
        assert _text(cart.text, f"line-sku-{sku_id}") == "Tin"
        assert _text(cart.text, f"line-price-{sku_id}") == "$12.50 each"
        assert _text(cart.text, f"line-total-{sku_id}") == "$25.00"
        assert _text(cart.text, "cart-subtotal") == "$25.00"
        # The check-out form O's /checkout takes: from the cart, with a fresh Idempotency-Key.
        checkout = re.search(r'<form method="post" action="/checkout" id="checkout".*?</form>', cart.text, re.S)
        assert checkout
        assert 'name="from_cart" value="1"' in checkout.group(0)
        assert uuid.UUID(hidden(checkout.group(0), "idempotency_key"))

        # More than shop has: the line warns; the quantity is the buyer's to change.
        changed = await client.post(
            "/cart/items", data={"sku_id": sku_id, "quantity": "7", "next": "/cart", "_csrf_token": csrf(client)}
        )
        assert changed.status_code == 303
        assert await _shop_cart(stack, buyer_id) == {sku_id: 7}
        assert _text((await client.get("/cart")).text, f"line-stock-{sku_id}") == "Only 5 left"

        # A quantity the page refuses is shown by the line, and shop keeps what it had.
        zero = await client.post(
            "/cart/items", data={"sku_id": sku_id, "quantity": "0", "next": "/cart", "_csrf_token": csrf(client)}
        )
        assert zero.status_code == 422
        assert _text(zero.text, f"error-quantity-{sku_id}") == "Enter a quantity from 1 to 999"
        assert await _shop_cart(stack, buyer_id) == {sku_id: 7}

        removed = await client.post(f"/cart/items/{sku_id}/remove", data={"_csrf_token": csrf(client)})
        assert removed.status_code == 303
        assert await _shop_cart(stack, buyer_id) == {}
        assert 'data-testid="cart-empty"' in (await client.get("/cart")).text


async def test_shops_refusals_are_shown_on_the_page_the_form_came_from(stack: Stack) -> None:
    _merchant_id, token = await onboard_merchant(stack, currency="USD")
    product = await _product(stack, token, ("A", 100, 9), ("B", 200, 9), ("C", 300, 9), ("D", 400, 9))
    a, b, c, d = (s["sku_id"] for s in product["skus"])
    async with buyer_session(stack) as (client, buyer_id):
        # A room's "add to cart" naming a room live does not know: the cart says so, with the way back to the room.
        room_id = str(uuid.uuid4())
        refused = await client.post(
            "/cart/items",
            data={
                "sku_id": a,
                "quantity": "1",
                "room_id": room_id,
                "next": f"/rooms/{room_id}",
                "_csrf_token": csrf(client),
            },
        )
        assert refused.status_code == 422, refused.text
        assert _text(refused.text, "cart-error") == f"there is no live room {room_id}"
        assert f'href="/rooms/{room_id}" data-testid="cart-back"' in refused.text
        assert await _shop_cart(stack, buyer_id) == {}

        # A full cart (three lines here): the product page shows shop's refusal by the SKU, with a 409.
        for sku in (a, b, c):
            data = {"sku_id": sku, "quantity": "1", "product_id": product["product_id"], "_csrf_token": csrf(client)}
            assert (await client.post("/cart/items", data=data)).status_code == 303
        full = await client.post(
            "/cart/items",
            data={"sku_id": d, "quantity": "1", "product_id": product["product_id"], "_csrf_token": csrf(client)},
        )
        assert full.status_code == 409
        assert _text(full.text, "error-sku_id").startswith("a cart holds at most 3 lines")
        assert f'value="{d}"' in full.text
        assert _text(full.text, "product-title") == product["title"]
        assert await _shop_cart(stack, buyer_id) == {a: 1, b: 1, c: 1}

        # A next that is not ours is not followed.
        away = await client.post(
            "/cart/items", data={"sku_id": a, "quantity": "2", "next": "//evil.example", "_csrf_token": csrf(client)}
        )
        assert away.headers["location"] == "/cart"


async def test_the_cart_offers_the_buyers_unused_coupons_of_that_shop(stack: Stack) -> None:
    merchant_id, token = await onboard_merchant(stack, currency="USD")
    product = await _product(stack, token, ("Tin", 1500, 9))
    room_id = await _room(stack, f"host-{uuid.uuid4().hex[:8]}", merchant_id, "Coupon hour")
    async with stack.client("live", token) as live:
        dropped = await live.post(
            f"/rooms/{room_id}/coupon-drops",
            json={
                "kind": "amount_off",
                "amount_off_minor": 500,
                "currency": "USD",
                "min_spend_minor": 2000,
                "per_buyer_limit": 1,
                "total": 10,
                "valid_until": (stack.clock.now() + timedelta(hours=2)).isoformat(),
            },
        )
    assert dropped.status_code == 201, dropped.text
    async with buyer_session(stack) as (client, buyer_id):
        buyer_token = stack.infra.token("buyer", sub=buyer_id)
        async with stack.client("live", buyer_token) as live:
            assert (await live.post(f"/rooms/{room_id}/join")).status_code in (200, 201)
            claimed = await live.post(f"/rooms/{room_id}/coupon-drops/{dropped.json()['drop_id']}/claim")
        assert claimed.status_code == 201, claimed.text
        coupon_id = claimed.json()["coupon_id"]
        data = {"sku_id": product["skus"][0]["sku_id"], "quantity": "2", "room_id": room_id}
        added = await client.post("/cart/items", data={**data, "_csrf_token": csrf(client)})
        assert added.status_code == 303, added.text
        cart = await client.get("/cart")
        assert f'data-testid="shop-{merchant_id}"' in cart.text
        coupon = re.search(rf'<div class="check" data-testid="coupon-{coupon_id}">.*?</div>', cart.text, re.S)
        assert coupon, cart.text
        assert 'form="checkout"' in coupon.group(0)  # ticked, it goes with the check-out form
        assert "$5.00 off" in coupon.group(0)
        assert "on a spend of $20.00 or more" in coupon.group(0)

        # Used by an order: no longer offered.
        async with stack.client("orders", buyer_token) as orders:
            await pay_checkout(
                stack, orders, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 2}], coupon_ids=[coupon_id]
            )
        again = await client.post("/cart/items", data={**data, "_csrf_token": csrf(client)})
        assert again.status_code == 303
        assert f'data-testid="coupon-{coupon_id}"' not in (await client.get("/cart")).text


# --- deals nearby, vouchers ---------------------------------------------------------------------------------------


async def test_deals_nearby_are_nearest_first_with_the_distance_in_the_readers_language(stack: Stack) -> None:
    # A spot of our own (the South Atlantic), so other tests' deals are farther than any radius asked.
    lat, lng = -47.0 + (uuid.uuid4().int % 1000) / 10_000, -20.0
    _merchant_id, token = merchant(stack)
    near = await new_store(stack, token, lat=lat + 850 / M_PER_DEGREE, lng=lng, name="Near Noodles")
    far = await new_store(stack, token, lat=lat + 2400 / M_PER_DEGREE, lng=lng, name="Far Falafel")
    word = uuid.uuid4().hex[:8]
    far_deal = await new_deal(stack, token, publish=True, store_ids=[far["store_id"]], title=f"Falafel {word}")
    near_deal = await new_deal(stack, token, publish=True, store_ids=[near["store_id"]], title=f"Noodles {word}")
    async with buyer_session(stack) as (client, _buyer):
        page = await client.get("/deals", params={"lat": lat, "lng": lng, "radius_m": 5000})
        assert page.status_code == 200, page.text
        assert _testids(page.text, "deal-price-") == [near_deal["deal_id"], far_deal["deal_id"]]
        assert _text(page.text, f"distance-{near_deal['deal_id']}") == "850 m"
        assert _text(page.text, f"distance-{far_deal['deal_id']}") == "2.4 km"
        assert _text(page.text, f"deal-price-{near_deal['deal_id']}") == "CN¥99.00"  # the deal's currency (CNY)
        small = await client.get("/deals", params={"lat": lat, "lng": lng, "radius_m": 1000})
        assert _testids(small.text, "deal-price-") == [near_deal["deal_id"]]

        client.cookies.set("liveloop_lang", "zh_Hans")
        chinese = await client.get("/deals", params={"lat": lat, "lng": lng, "radius_m": 5000})
        assert _text(chinese.text, f"distance-{near_deal['deal_id']}") == "850米"
        assert _text(chinese.text, f"distance-{far_deal['deal_id']}") == "2.4公里"
        client.cookies.set("liveloop_lang", "en")

        wrong = await client.get("/deals", params={"lat": "north", "lng": lng})
        assert wrong.status_code == 422
        assert _text(wrong.text, "error-lat") == "Enter a latitude between -90 and 90"

        found = await client.get("/deals", params={"q": f"noodles {word}", "lat": lat, "lng": lng})
        assert _testids(found.text, "deal-price-")[0] == near_deal["deal_id"]  # best match first

        deal = await client.get(f"/deals/{near_deal['deal_id']}", params={"lat": lat, "lng": lng})
        assert deal.status_code == 200
        assert _text(deal.text, f"place-distance-{near['store_id']}") == "850 m"
        assert "Monday" in deal.text
        assert _text(deal.text, "validity") == "30 days from purchase"
        buy = re.search(r'<form method="post" action="/checkout".*?</form>', deal.text, re.S)
        assert buy
        assert hidden(buy.group(0), "deal_id") == near_deal["deal_id"]
        assert uuid.UUID(hidden(buy.group(0), "idempotency_key"))
        # A draft deal is not for sale: local_life's 404 is the page's.
        draft = await new_deal(stack, token, store_ids=[near["store_id"]])
        assert (await client.get(f"/deals/{draft['deal_id']}")).status_code == 404


async def _voucher(stack: Stack, buyer_id: str) -> dict:
    """A voucher of a deal at the demo store, bought and paid by `buyer_id`."""
    merchant = stack.demo.token(stack.infra, "merchant")
    deal = await new_deal(stack, merchant, publish=True, currency="USD", store_ids=[stack.demo.store_id])
    buyer = Buyer(buyer_id, stack.client("orders", stack.infra.token("buyer", sub=buyer_id)))
    await pay_checkout(stack, buyer, [{"deal_id": deal["deal_id"], "quantity": 1}])
    (voucher,) = await vouchers_of(stack, buyer, 1)
    return voucher


async def test_my_vouchers_show_the_code_and_qr_and_an_unused_one_is_refunded(stack: Stack) -> None:
    buyer_id = f"buyer-{uuid.uuid4().hex[:10]}"
    voucher = await _voucher(stack, buyer_id)
    voucher_id = voucher["voucher_id"]
    async with buyer_session(stack, buyer_id) as (client, _buyer):
        mine = await client.get("/vouchers")
        assert mine.status_code == 200
        usable = mine.text.split('data-testid="group-usable"')[1].split("</section>")[0]
        assert f'data-testid="voucher-{voucher_id}"' in usable
        assert _text(mine.text, f"voucher-status-{voucher_id}") == "Ready to use"

        page = await client.get(f"/vouchers/{voucher_id}")
        assert page.status_code == 200
        code = re.search(r'data-testid="voucher-code">(.*?)</p>', page.text)
        assert code
        assert re.sub(r"<[^>]+>", "", code.group(1)) == voucher["code"]
        assert re.search(r'<img class="qr" src="data:image/svg\+xml[^"]+"[^>]*data-testid="voucher-qr"', page.text)

        # Refund: 202 at local_life, the page follows it until orders gave the money back.
        key = hidden(page.text, "idempotency_key")
        asked = await client.post(
            f"/vouchers/{voucher_id}/refund", data={"idempotency_key": key, "_csrf_token": csrf(client)}
        )
        assert asked.status_code == 303, asked.text
        location = asked.headers["location"]
        assert location.startswith(f"/vouchers/{voucher_id}?refund=")
        refund_id = location.split("=", 1)[1]
        shown = await client.get(location)
        assert 'data-testid="refund-status"' in shown.text
        assert 'data-testid="refund-form"' not in shown.text

        async def refunded() -> str | None:
            fragment = await client.get(f"/vouchers/{voucher_id}/refunds/{refund_id}")
            assert fragment.status_code == 200
            return fragment.text if "Refunded:" in fragment.text else None

        fragment = await eventually(refunded, timeout=20)
        assert "$99.00 back to your payment method" in fragment
        assert "hx-get" not in fragment  # done: no more polling
        async with stack.client("local_life", stack.infra.token("buyer", sub=buyer_id)) as local:
            assert (await local.get(f"/vouchers/{voucher_id}")).json()["status"] == "refunded"
        # The same form again (a double click): the same refund, nothing more.
        twice = await client.post(
            f"/vouchers/{voucher_id}/refund", data={"idempotency_key": key, "_csrf_token": csrf(client)}
        )
        assert twice.headers["location"] == location
        # Refunded: asked anew with another key, refused on the page in local_life's words.
        again = await client.post(
            f"/vouchers/{voucher_id}/refund", data={"idempotency_key": str(uuid.uuid4()), "_csrf_token": csrf(client)}
        )
        assert again.status_code in (409, 200)
        mine = await client.get("/vouchers")
        assert f'data-testid="voucher-{voucher_id}"' in mine.text.split('data-testid="group-refunded"')[1]


async def test_another_buyers_voucher_is_not_found(stack: Stack) -> None:
    voucher = await _voucher(stack, f"buyer-{uuid.uuid4().hex[:10]}")
    async with buyer_session(stack) as (client, _buyer):
        assert (await client.get(f"/vouchers/{voucher['voucher_id']}")).status_code == 404
        refused = await client.post(
            f"/vouchers/{voucher['voucher_id']}/refund",
            data={"idempotency_key": str(uuid.uuid4()), "_csrf_token": csrf(client)},
        )
        assert refused.status_code == 404
        assert voucher["code"] not in (await client.get("/vouchers")).text


# --- who may -----------------------------------------------------------------------------------------------------

BUYER_PAGES = ("/live", "/search", "/cart", "/deals", "/vouchers")


@pytest.mark.parametrize("role", ["merchant", "clerk"])
async def test_only_a_buyer_gets_the_buyer_pages(stack: Stack, role: str) -> None:
    async with signed_in_as(stack, role) as client:
        await client.get("/sign-in")
        for path in BUYER_PAGES:
            assert (await client.get(path)).status_code == 403, path
        refused = await client.post(
            "/cart/items", data={"sku_id": str(uuid.uuid4()), "quantity": "1", "_csrf_token": csrf(client)}
        )
        assert refused.status_code == 403


async def test_a_visitor_without_a_session_is_sent_to_sign_in(stack: Stack) -> None:
    async with browser(stack) as client:
        for path in BUYER_PAGES:
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/sign-in?next={path}"


async def test_the_buyer_forms_need_their_csrf_token(stack: Stack) -> None:
    _merchant_id, token = await onboard_merchant(stack, currency="USD")
    product = await _product(stack, token, ("Tin", 1250, 5))
    sku_id = product["skus"][0]["sku_id"]
    async with buyer_session(stack) as (client, buyer_id):
        assert (await client.post("/cart/items", data={"sku_id": sku_id, "quantity": "1"})).status_code == 403
        forged = {"sku_id": sku_id, "quantity": "1", "_csrf_token": "0" * 128}
        assert (await client.post("/cart/items", data=forged)).status_code == 403
        assert await _shop_cart(stack, buyer_id) == {}
        assert (await client.post("/hosts/someone/follow")).status_code == 403
        assert (await client.post(f"/vouchers/{uuid.uuid4()}/refund")).status_code == 403


async def test_the_buyer_pages_read_in_simplified_chinese(stack: Stack) -> None:
    async with buyer_session(stack) as (client, _buyer):
        client.cookies.set("liveloop_lang", "zh_Hans")
        cart = await client.get("/cart")
        assert "购物车是空的" in cart.text
        assert "附近团购" in (await client.get("/deals")).text
