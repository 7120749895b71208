"""The web app's foundation over HTTP, against real services: sessions, CSRF, the seller's Today, products, a new
product made through the form and read back from shop, another merchant's product (404)."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.harness import Stack, eventually, onboard_merchant
from tests.integration.aftersales.support import call, open_case
from tests.integration.orders.support import pay_checkout
from tests.integration.web.support import SESSION_COOKIE, browser, csrf, hidden, signed_in_as

SERVICES = ("shop", "orders", "aftersales", "live", "web")
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _demo_product(stack: Stack, *skus: tuple[str, int, int]) -> dict:
    """A product of the demo merchant made through shop's API: (name, price_minor, stock) per SKU."""
    body = {
        "title": f"Linen shirt {uuid.uuid4().hex[:6]}",
        "skus": [{"name": name, "price_minor": price, "stock": stock} for name, price, stock in skus],
    }
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        created = await shop.post("/seller/products", json=body)
    assert created.status_code == 201, created.text
    return created.json()


async def _shop_product(stack: Stack, product_id: str) -> dict:
    async with stack.client("shop", stack.demo.token(stack.infra, "merchant")) as shop:
        answer = await shop.get(f"/seller/products/{product_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_dev_sign_in_keeps_the_session_in_an_httponly_samesite_cookie(stack: Stack) -> None:
    async with browser(stack) as client:
        page = await client.get("/sign-in")
        assert page.status_code == 200
        assert 'data-testid="sign-in-merchant"' in page.text
        answer = await client.post("/sign-in", data={"role": "merchant", "_csrf_token": csrf(client)})
        assert answer.status_code == 303
        assert answer.headers["location"] == "/seller"
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "secure" not in attributes  # dev serves plain HTTP; outside dev the cookie is Secure (below)
        today = await client.get("/seller")
        assert today.status_code == 200
        assert "merchant-demo" in today.text
        # Signing out forgets the session: the seller's pages send the visitor to sign in again.
        out = await client.post("/sign-out", data={"_csrf_token": csrf(client)})
        assert out.status_code == 303
        again = await client.get("/seller")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/sign-in")


async def test_a_visitor_without_a_session_is_sent_to_sign_in(stack: Stack) -> None:
    async with browser(stack) as client:
        for path in ("/seller", "/seller/products", "/seller/products/new"):
            answer = await client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/sign-in?next={path}"


async def test_a_forged_session_cookie_is_no_session(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        sealed = client.cookies.get(SESSION_COOKIE)
        body, _, signature = sealed.partition(".")
        client.cookies.set(SESSION_COOKIE, body + "." + ("A" if signature[0] != "A" else "B") + signature[1:])
        answer = await client.get("/seller")
        assert answer.status_code == 303


async def test_a_form_post_without_its_csrf_token_is_refused(stack: Stack) -> None:
    async with browser(stack) as client:
        await client.get("/sign-in")
        refused = await client.post("/sign-in", data={"role": "merchant"})
        assert refused.status_code == 403
        assert SESSION_COOKIE not in client.cookies
    async with signed_in_as(stack) as client:
        before = await client.get("/seller/products")
        title = f"Forged {uuid.uuid4().hex[:6]}"
        form = {"title": title, "skus-0-name": "One", "skus-0-price": "1", "skus-0-stock": "1"}
        refused = await client.post("/seller/products/new", data=form)
        assert refused.status_code == 403
        wrong = await client.post("/seller/products/new", data={**form, "_csrf_token": "0" * 128})
        assert wrong.status_code == 403
        after = await client.get("/seller/products")
        assert title not in after.text
        assert before.text.count("product-row-") == after.text.count("product-row-")


async def test_todays_page_shows_an_order_to_ship_made_by_a_real_checkout(stack: Stack) -> None:
    product = await _demo_product(stack, ("M", 2500, 10))
    buyer_token = stack.infra.token("buyer")
    async with stack.client("orders", buyer_token) as buyer:
        paid = await pay_checkout(stack, buyer, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 2}])
    order_id = paid["orders"][0]["order_id"]
    async with signed_in_as(stack) as client:
        today = await client.get("/seller")
        assert today.status_code == 200
        row = re.search(rf'<tr data-testid="to-ship-{order_id}".*?</tr>', today.text, re.S)
        assert row, today.text
        assert "$50.00" in row.group(0)  # 2 x $25.00, from orders' answer
        assert "UTC" in row.group(0)  # the ship-by deadline

        async def paid_today_shown() -> str | None:
            page = await client.get("/seller")
            found = re.search(r'data-testid="gmv-today">(.*?)</ul>', page.text, re.S)
            return found.group(1) if found and "$" in found.group(1) else None

        # live's funnel counts the payment once its consumer has the event.
        assert "$50.00" in await eventually(paid_today_shown, timeout=20)


async def test_todays_cases_are_the_open_ones_and_a_withdrawn_case_leaves(stack: Stack) -> None:
    product = await _demo_product(stack, ("M", 2500, 10))
    buyer_token = stack.infra.token("buyer")
    async with stack.client("orders", buyer_token) as buyer:
        paid = await pay_checkout(stack, buyer, [{"sku_id": product["skus"][0]["sku_id"], "quantity": 2}])
    order_id = paid["orders"][0]["order_id"]
    async with stack.client("orders", stack.demo.token(stack.infra, "merchant")) as seller:
        shipped = await seller.post(
            f"/seller/orders/{order_id}/shipments", json={"carrier": "ups", "tracking_number": uuid.uuid4().hex}
        )
        assert shipped.status_code == 201, shipped.text
    body = {
        "order_id": order_id,
        "kind": "refund_only",
        "reason_code": "not_received",
        "description": "never came",
        "lines": [{"line_no": 0, "quantity": 1}],
    }

    async def case_opened() -> str | None:  # aftersales learns of the paid order from its event
        opened = await open_case(stack, buyer_token, body)
        return opened.json()["case_id"] if opened.status_code == 201 else None

    case_id = await eventually(case_opened, timeout=20)
    async with signed_in_as(stack) as client:
        today = await client.get("/seller")
        row = re.search(rf'<tr data-testid="case-{case_id}".*?</tr>', today.text, re.S)
        assert row, today.text
        assert "UTC" in row.group(0)  # the merchant's deadline to answer
        withdrawn = await call(stack, buyer_token, f"/cases/{case_id}/cancel")
        assert withdrawn.status_code == 200, withdrawn.text
        today = await client.get("/seller")
        assert f'data-testid="case-{case_id}"' not in today.text


async def test_creating_a_product_with_two_skus_through_the_form_makes_it_in_shop(stack: Stack) -> None:
    title = f"Cotton tee {uuid.uuid4().hex[:6]}"
    async with signed_in_as(stack) as client:
        form_page = await client.get("/seller/products/new")
        assert form_page.status_code == 200
        form = {
            "_csrf_token": csrf(client),
            "idempotency_key": hidden(form_page.text, "idempotency_key"),
            "title": title,
            "description": "Soft",
            "skus-0-name": "Small",
            "skus-0-price": "12.50",
            "skus-0-stock": "5",
            "skus-1-name": "Large",
            "skus-1-price": "14",
            "skus-1-stock": "7",
            "skus-2-name": "",
            "skus-2-price": "",
            "skus-2-stock": "",
        }
        created = await client.post("/seller/products/new", data=form)
        assert created.status_code == 303, created.text
        product_id = created.headers["location"].removeprefix("/seller/products/")
        # Sent again (a double click): the same product, not a second one.
        again = await client.post("/seller/products/new", data=form)
        assert again.headers["location"] == created.headers["location"]
        page = await client.get(f"/seller/products/{product_id}")
        assert page.status_code == 200
        for shown in (title, "Small", "Large"):
            assert shown in page.text
    product = await _shop_product(stack, product_id)
    assert product["title"] == title
    assert product["status"] == "published"
    skus = sorted((s["name"], s["price_minor"], s["currency"], s["stock_on_hand"]) for s in product["skus"])
    assert skus == [("Large", 1400, "USD", 7), ("Small", 1250, "USD", 5)]


async def test_the_apis_refusal_is_shown_by_the_field_it_names_and_nothing_is_made(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        before = await client.get("/seller/products")
        form_page = await client.get("/seller/products/new")
        base = {
            "_csrf_token": csrf(client),
            "idempotency_key": hidden(form_page.text, "idempotency_key"),
            "skus-0-name": "Small",
            "skus-0-price": "12.50",
            "skus-0-stock": "5",
            "skus-1-name": "x" * 101,  # over shop's 100 characters: shop names skus[1].name
            "skus-1-price": "3",
            "skus-1-stock": "1",
        }
        refused = await client.post("/seller/products/new", data={**base, "title": "Fine title"})
        assert refused.status_code == 422
        assert 'data-testid="error-skus-1-name"' in refused.text
        assert 'data-testid="error-title"' not in refused.text
        assert 'value="Fine title"' in refused.text  # what was typed stays
        # What only the page checks (the currency's decimals), by its field too.
        local = await client.post("/seller/products/new", data={**base, "title": "T", "skus-0-price": "1.005"})
        assert local.status_code == 422
        assert 'data-testid="error-skus-0-price"' in local.text
        after = await client.get("/seller/products")
        assert before.text.count("product-row-") == after.text.count("product-row-")


async def test_the_product_page_sets_stock_and_shows_a_refusal_by_its_field(stack: Stack) -> None:
    product = await _demo_product(stack, ("Red", 900, 3), ("Blue", 900, 4))
    sku_id = product["skus"][0]["sku_id"]
    async with signed_in_as(stack) as client:
        page = await client.get(f"/seller/products/{product['product_id']}")
        assert f'data-testid="stock-on-hand-{sku_id}">3<' in page.text
        path = f"/seller/products/{product['product_id']}/skus/{sku_id}/stock"
        done = await client.post(path, data={"stock_on_hand": "42", "_csrf_token": csrf(client)})
        assert done.status_code == 303
        page = await client.get(done.headers["location"])
        assert f'data-testid="stock-on-hand-{sku_id}">42<' in page.text
        refused = await client.post(path, data={"stock_on_hand": "-1", "_csrf_token": csrf(client)})
        assert refused.status_code == 422
        assert f'data-testid="error-stock-{sku_id}"' in refused.text
    assert (
        next(s for s in (await _shop_product(stack, product["product_id"]))["skus"] if s["sku_id"] == sku_id)[
            "stock_on_hand"
        ]
        == 42
    )


async def test_another_merchants_product_page_answers_404(stack: Stack) -> None:
    _, other_token = await onboard_merchant(stack)
    async with stack.client("shop", other_token) as shop:
        created = await shop.post(
            "/seller/products", json={"title": "Not yours", "skus": [{"name": "One", "price_minor": 100, "stock": 1}]}
        )
    assert created.status_code == 201, created.text
    other = created.json()
    async with signed_in_as(stack) as client:
        for path in (f"/seller/products/{other['product_id']}", "/seller/products/not-a-uuid"):
            answer = await client.get(path)
            assert answer.status_code == 404, path
            assert "Not yours" not in answer.text
        stock = f"/seller/products/{other['product_id']}/skus/{other['skus'][0]['sku_id']}/stock"
        refused = await client.post(stock, data={"stock_on_hand": "0", "_csrf_token": csrf(client)})
        assert refused.status_code == 404
    assert (await _other_stock(stack, other_token, other["product_id"])) == 1


async def _other_stock(stack: Stack, token: str, product_id: str) -> int:
    async with stack.client("shop", token) as shop:
        return (await shop.get(f"/seller/products/{product_id}")).json()["skus"][0]["stock_on_hand"]


async def test_another_roles_user_cannot_use_the_seller_pages(stack: Stack) -> None:
    async with signed_in_as(stack, "buyer") as client:
        answer = await client.get("/seller")
        assert answer.status_code == 403


async def test_the_pages_read_in_simplified_chinese_once_chosen(stack: Stack) -> None:
    async with signed_in_as(stack) as client:
        chosen = await client.post(
            "/language", data={"language": "zh_Hans", "next": "/seller/products/new", "_csrf_token": csrf(client)}
        )
        assert chosen.status_code == 303
        assert chosen.headers["location"] == "/seller/products/new"
        page = await client.get("/seller/products/new")
        assert '<html lang="zh-Hans">' in page.text
        assert "新建商品" in page.text
        assert "创建并上架" in page.text
        assert '<label for="skus-0-price">规格 1 价格</label>' in page.text


async def test_pages_load_only_the_apps_own_assets(stack: Stack) -> None:
    async with browser(stack) as client:
        page = await client.get("/sign-in")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', page.text)
        assert sorted(assets) == [
            "/static/app.css",
            "/static/vendor/htmx-2.0.11.min.js",
            "/static/vendor/htmx-ext-sse-2.2.4.min.js",
        ]
        for asset in assets:
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert len(served.content) > 1000, asset
