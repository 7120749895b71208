"""Checking out and paying through the web app, against real services: the cart, a SKU or a flash-sale order
checked out with the form's Idempotency-Key, paid with Stripe's test cards (localstripe), the page polling until the
webhook has made the order paid; a declined card said on the page and another card paying; orders' refusals shown
with the item they name and the way back; someone else's checkout 404, another role 403, CSRF required."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest

from tests.harness import Stack, eventually
from tests.integration.live.support import add_when_known
from tests.integration.local_life.support import new_deal
from tests.integration.web.support import csrf, signed_in_as

SERVICES = ("shop", "live", "local_life", "orders", "web")
# The demo buyer checks out many times in this module: past the per-caller burst and the unpaid-checkouts cap
# these pages would show 429 and 409, which are not what these tests are about.
SETTINGS = {"checkout_burst": 1000, "max_unpaid_checkouts": 1000}
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def demo_product(stack: Stack, *skus: tuple[str, int, int], title: str | None = None) -> dict:
    """A product of the demo merchant made through shop's API: (name, price_minor, stock) per SKU."""
    body = {
        "title": title or f"Teapot {uuid.uuid4().hex[:6]}",
        "skus": [{"name": name, "price_minor": price, "stock": stock} for name, price, stock in skus],
    }
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        created = await shop.post("/seller/products", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def buyer_api(stack: Stack, service: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    """The demo buyer (the one the web app signs in) calling a service's API directly."""
    async with stack.client(service, stack.demo.token(stack.infra, "buyer")) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


async def checkout_through_the_form(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    key = str(uuid.uuid4())
    return await client.post("/checkout", data={"_csrf_token": csrf(client), "idempotency_key": key, **fields})


def state_of(html: str) -> str:
    found = re.search(r'data-testid="payment" data-state="(\w+)"', html)
    assert found, html
    return found.group(1)


async def paid_on_the_page(client: httpx.AsyncClient, page_path: str) -> str:
    """Follow the page as a browser does: the page after confirming polls its payment panel until it is paid."""
    page = await client.get(page_path)
    assert page.status_code == 200, page.text
    assert state_of(page.text) == "processing"
    poll = re.search(r'hx-get="([^"]+)" hx-trigger="every 1s"', page.text)
    assert poll, page.text
    path = poll.group(1).replace("&amp;", "&")

    async def polled() -> str | None:
        panel = await client.get(path)
        assert panel.status_code == 200, panel.text
        return panel.text if state_of(panel.text) == "paid" else None

    panel = await eventually(polled, timeout=20, interval=0.5)
    assert "hx-trigger" not in panel  # paid: the panel stops polling
    return panel


async def test_the_cart_checks_out_once_per_key_and_the_page_pays_it_with_the_test_visa(stack: Stack) -> None:
    product = await demo_product(stack, ("Celadon", 1500, 10), ("White", 1200, 10), title="Gaiwan 盖碗")
    celadon, white = (sku["sku_id"] for sku in product["skus"])
    for sku_id, quantity in ((celadon, 2), (white, 1)):
        added = await buyer_api(stack, "shop", "POST", "/cart/items", json={"sku_id": sku_id, "quantity": quantity})
        assert added.status_code in (200, 201), added.text
    async with signed_in_as(stack, "buyer") as client:
        form = {"_csrf_token": csrf(client), "idempotency_key": str(uuid.uuid4()), "from_cart": "1"}
        placed = await client.post("/checkout", data=form)
        assert placed.status_code == 303, placed.text
        checkout_id = placed.headers["location"].removeprefix("/checkouts/")
        # The same form sent again (a double click): the same checkout, not a second one.
        again = await client.post("/checkout", data=form)
        assert again.headers["location"] == placed.headers["location"]

        page = await client.get(f"/checkouts/{checkout_id}")
        assert page.status_code == 200
        assert "Gaiwan 盖碗" in page.text
        assert 'data-testid="checkout-total">$42.00<' in page.text  # 2 x $15 + $12, from orders' answer
        assert state_of(page.text) == "payable"
        assert 'value="pm_card_visa"' in page.text

        paid = await client.post(
            f"/checkouts/{checkout_id}/pay", data={"payment_method": "pm_card_visa", "_csrf_token": csrf(client)}
        )
        assert paid.status_code == 303, paid.text
        panel = await paid_on_the_page(client, paid.headers["location"])
        order_id = re.search(r'data-testid="paid-order-([^"]+)"', panel).group(1)  # type: ignore[union-attr]

    checkout = (await buyer_api(stack, "orders", "GET", f"/checkouts/{checkout_id}")).json()
    assert checkout["status"] == "paid"
    assert [o["order_id"] for o in checkout["orders"]] == [order_id]
    assert sorted((line["sku_id"], line["quantity"]) for line in checkout["orders"][0]["lines"]) == sorted(
        [(celadon, 2), (white, 1)]
    )

    async def cart_emptied() -> bool:  # shop takes what was ordered out of the cart
        cart = (await buyer_api(stack, "shop", "GET", "/cart")).json()
        return not {celadon, white} & {line["sku_id"] for line in cart["items"]}

    await eventually(cart_emptied, timeout=20)


async def test_a_cart_form_sent_five_times_at_once_places_one_checkout(stack: Stack) -> None:
    product = await demo_product(stack, ("Jade", 800, 20), title="Tea cup")
    sku_id = product["skus"][0]["sku_id"]
    added = await buyer_api(stack, "shop", "POST", "/cart/items", json={"sku_id": sku_id, "quantity": 4})
    assert added.status_code in (200, 201), added.text
    async with signed_in_as(stack, "buyer") as client:
        form = {"_csrf_token": csrf(client), "idempotency_key": str(uuid.uuid4()), "from_cart": "1"}
        answers = await asyncio.gather(*(client.post("/checkout", data=form) for _ in range(5)))
        assert [a.status_code for a in answers] == [303] * 5, [a.text for a in answers if a.status_code != 303]
        assert len({a.headers["location"] for a in answers}) == 1
        # Later still (the cart long emptied by shop): the same checkout.
        later = await client.post("/checkout", data=form)
        assert later.headers["location"] == answers[0].headers["location"]
    orders = (await buyer_api(stack, "orders", "GET", "/orders", params={"limit": 100})).json()["items"]
    assert [o["lines"][0]["quantity"] for o in orders if o["lines"][0]["sku_id"] == sku_id] == [4]
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        sku = (await shop.get(f"/seller/products/{product['product_id']}")).json()["skus"][0]
    assert sku["stock_reserved"] == 4


async def test_a_declined_card_is_said_on_the_page_and_another_card_pays(stack: Stack) -> None:
    product = await demo_product(stack, ("One size", 2000, 5))
    async with signed_in_as(stack, "buyer") as client:
        placed = await checkout_through_the_form(client, sku_id=product["skus"][0]["sku_id"], quantity="1")
        assert placed.status_code == 303, placed.text
        page_path = placed.headers["location"]
        checkout_id = page_path.removeprefix("/checkouts/")

        declined = await client.post(
            f"{page_path}/pay", data={"payment_method": "pm_card_chargeCustomerFail", "_csrf_token": csrf(client)}
        )
        assert declined.status_code == 402, declined.text
        assert state_of(declined.text) == "failed"
        assert 'data-testid="payment-refusal"' in declined.text  # Stripe's words, through orders
        assert 'data-testid="pay"' in declined.text  # and the form to try another card

        async def declined_at_orders() -> bool:  # Stripe's payment_failed webhook reaches orders a moment later
            checkout = (await buyer_api(stack, "orders", "GET", f"/checkouts/{checkout_id}")).json()
            return checkout["payment"]["status"] == "failed"

        await eventually(declined_at_orders, timeout=20)
        # Looked at again later: declined, the form still there.
        assert state_of((await client.get(page_path)).text) == "failed"

        # A payment method the page does not offer is not sent to orders.
        odd = await client.post(
            f"{page_path}/pay", data={"payment_method": "pm_card_whatever", "_csrf_token": csrf(client)}
        )
        assert odd.status_code == 422

        paid = await client.post(
            f"{page_path}/pay", data={"payment_method": "pm_card_visa", "_csrf_token": csrf(client)}
        )
        assert paid.status_code == 303
        assert "paying=failed" in paid.headers["location"]  # the declined status is not mistaken for a new decline
        await paid_on_the_page(client, paid.headers["location"])
    checkout = (await buyer_api(stack, "orders", "GET", f"/checkouts/{checkout_id}")).json()
    assert (checkout["status"], checkout["payment"]["status"]) == ("paid", "succeeded")


async def test_a_refused_checkout_names_the_item_in_orders_words_and_leads_back(stack: Stack) -> None:
    product = await demo_product(stack, ("Small", 900, 5), ("Large", 1100, 5), title="Tea towel")
    small, large = (sku["sku_id"] for sku in product["skus"])
    for sku_id in (small, large):
        added = await buyer_api(stack, "shop", "POST", "/cart/items", json={"sku_id": sku_id, "quantity": 3})
        assert added.status_code in (200, 201), added.text
    # The merchant sells most of the large ones elsewhere meanwhile: 1 left, 3 in the cart.
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        lowered = await shop.patch(f"/seller/skus/{large}", json={"stock_on_hand": 1})
        assert lowered.status_code == 200, lowered.text
    async with signed_in_as(stack, "buyer") as client:
        refused = await checkout_through_the_form(client, from_cart="1")
        assert refused.status_code == 409, refused.text
        assert 'data-testid="checkout-refusal"' in refused.text
        assert 'data-testid="checkout-refused-item">This is about: Tea towel (Large)<' in refused.text
        assert 'href="/cart" data-testid="checkout-back"' in refused.text
        # A deal that does not exist: orders' 400 in its words, back to the deal's page, or where the form says.
        unknown = str(uuid.uuid4())
        deal = await checkout_through_the_form(client, deal_id=unknown, quantity="1")
        assert deal.status_code == 400, deal.text
        assert f'href="/deals/{unknown}" data-testid="checkout-back"' in deal.text
        deal = await checkout_through_the_form(client, deal_id=unknown, quantity="1", next="/deals")
        assert 'href="/deals" data-testid="checkout-back"' in deal.text
        elsewhere = await checkout_through_the_form(client, deal_id=unknown, quantity="1", next="https://evil.example")
        assert f'href="/deals/{unknown}" data-testid="checkout-back"' in elsewhere.text
        # A form without its key (not from our page) is refused before orders is asked.
        keyless = await client.post("/checkout", data={"_csrf_token": csrf(client), "sku_id": small, "quantity": "1"})
        assert keyless.status_code == 400
        bad_quantity = await checkout_through_the_form(client, sku_id=small, quantity="lots")
        assert bad_quantity.status_code == 422
    # Nothing was held: both SKUs' stock untouched by the refused checkouts.
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        skus = {s["sku_id"]: s for s in (await shop.get(f"/seller/products/{product['product_id']}")).json()["skus"]}
    assert (skus[small]["stock_reserved"], skus[large]["stock_reserved"]) == (0, 0)


async def test_a_deal_checks_out_through_the_form(stack: Stack) -> None:
    deal = await new_deal(
        stack, stack.demo.token(stack.infra, "merchant"), publish=True, currency="USD", store_ids=[stack.demo.store_id]
    )
    async with signed_in_as(stack, "buyer") as client:
        placed = await checkout_through_the_form(client, deal_id=deal["deal_id"], quantity="2")
        assert placed.status_code == 303, placed.text
        page = await client.get(placed.headers["location"])
        assert deal["title"] in page.text
        assert state_of(page.text) == "payable"
    checkout_id = placed.headers["location"].removeprefix("/checkouts/")
    checkout = (await buyer_api(stack, "orders", "GET", f"/checkouts/{checkout_id}")).json()
    assert [(line["deal_id"], line["quantity"]) for line in checkout["orders"][0]["lines"]] == [(deal["deal_id"], 2)]


async def test_a_flash_sale_order_is_paid_on_its_own_page_by_its_pay_by(stack: Stack) -> None:
    product = await demo_product(stack, ("42", 9900, 10), title="Sneaker drop")
    host = stack.demo.token(stack.infra, "host")
    async with stack.client("live", host) as live:
        room = (await live.post("/rooms", json={"title": "Drop night"})).json()
        await add_when_known(stack, host, room["room_id"], product["product_id"])
        started = await live.post(f"/rooms/{room['room_id']}/start")
        assert started.status_code == 200, started.text
        terms = {
            "sku_id": product["skus"][0]["sku_id"],
            "quantity": 5,
            "price_minor": 4900,
            "per_buyer_limit": 1,
            "duration_s": 600,
        }
        sale = await live.post(f"/rooms/{room['room_id']}/flash-sales", json=terms)
        assert sale.status_code == 201, sale.text
    bought = await buyer_api(
        stack,
        "live",
        "POST",
        f"/rooms/{room['room_id']}/flash-sales/{sale.json()['sale_id']}/purchase",
        json={"quantity": 1},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert bought.status_code == 201, bought.text
    order_id = bought.json()["order_id"]

    async def order_made() -> bool:
        return (await buyer_api(stack, "orders", "GET", f"/orders/{order_id}")).status_code == 200

    await eventually(order_made, timeout=20)
    async with signed_in_as(stack, "buyer") as client:
        page = await client.get(f"/orders/{order_id}/pay")
        assert page.status_code == 200, page.text
        assert "Sneaker drop" in page.text
        assert 'data-testid="checkout-total">$49.00<' in page.text
        assert 'data-testid="flash-sale-note"' in page.text
        assert re.search(r"Pay by \d{4}-\d\d-\d\d \d\d:\d\d UTC", page.text)
        paid = await client.post(
            f"/orders/{order_id}/pay", data={"payment_method": "pm_card_visa", "_csrf_token": csrf(client)}
        )
        assert paid.status_code == 303, paid.text
        assert paid.headers["location"].startswith(f"/orders/{order_id}/pay?")
        await paid_on_the_page(client, paid.headers["location"])
    order = (await buyer_api(stack, "orders", "GET", f"/orders/{order_id}")).json()
    assert order["status"] == "paid"


async def test_someone_elses_checkout_is_404_another_role_403_and_csrf_is_required(stack: Stack) -> None:
    product = await demo_product(stack, ("One", 500, 5))
    stranger = stack.infra.token("buyer", sub=f"buyer-{uuid.uuid4().hex[:8]}")
    async with stack.client("orders", stranger) as orders:
        theirs = await orders.post(
            "/checkout",
            json={"items": [{"sku_id": product["skus"][0]["sku_id"], "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    assert theirs.status_code == 201, theirs.text
    checkout_id = theirs.json()["checkout_id"]
    async with signed_in_as(stack, "buyer") as client:
        for path in (f"/checkouts/{checkout_id}", f"/checkouts/{checkout_id}/payment", "/checkouts/not-an-id"):
            answer = await client.get(path)
            assert answer.status_code == 404, path
        pay = await client.post(
            f"/checkouts/{checkout_id}/pay", data={"payment_method": "pm_card_visa", "_csrf_token": csrf(client)}
        )
        assert pay.status_code == 404
        forged = await client.post(
            "/checkout",
            data={"idempotency_key": str(uuid.uuid4()), "sku_id": product["skus"][0]["sku_id"], "quantity": "1"},
        )
        assert forged.status_code == 403
    async with signed_in_as(stack, "merchant") as client:
        assert (await client.get(f"/checkouts/{checkout_id}")).status_code == 403
    async with stack.client("orders", stranger) as orders:
        assert (await orders.get(f"/checkouts/{checkout_id}")).json()["payment"]["status"] == "requires_payment"
    listed = (await buyer_api(stack, "orders", "GET", "/orders")).json()["items"]
    assert all(o["lines"][0]["sku_id"] != product["skus"][0]["sku_id"] for o in listed)  # the forged post made none
